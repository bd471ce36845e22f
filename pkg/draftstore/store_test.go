package draftstore

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pkg/atomicfile"
	"github.com/vigil-dev/vigil/pkg/profile"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, profile.Limits{}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDraftsSurviveRestart saves drafts, then opens the state directory
// again as a restarted agent would and keeps learning where it stopped.
func TestDraftsSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "drafts")
	s := openStore(t, dir)
	nginx := mustDraft(t, "nginx:1.27", profile.Limits{})
	observeAll(t, nginx, "c1", "n1", t0, workload()...)
	nginx.MarkIncomplete("ring buffer lost events", 4)
	other := mustDraft(t, "redis:7", profile.Limits{})
	observeAll(t, other, "c2", "n1", t0, profile.Observation{Kind: profile.KindExec, Path: "/usr/local/bin/redis-server"})
	for _, d := range []*profile.Draft{nginx, other} {
		if err := s.Save(d); err != nil {
			t.Fatal(err)
		}
	}
	// Saving again replaces the file in place.
	observeAll(t, nginx, "c1", "n1", t0.Add(time.Minute), profile.Observation{Kind: profile.KindExec, Path: "/bin/true"})
	if err := s.Save(nginx); err != nil {
		t.Fatal(err)
	}
	// An interrupted save leaves a temporary file behind.
	leftover := ".tmp-x.draft.yaml-123"
	if !atomicfile.IsTemp(leftover) {
		t.Fatalf("%s is not named as atomicfile names its temporary files", leftover)
	}
	if err := os.WriteFile(filepath.Join(dir, leftover), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	restarted := openStore(t, dir)
	drafts, err := restarted.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(drafts) != 2 {
		t.Fatalf("loaded %d drafts, want 2", len(drafts))
	}
	var loaded *profile.Draft
	for _, d := range drafts {
		if d.Digest() == nginx.Digest() {
			loaded = d
		}
	}
	if loaded == nil || !loaded.Profile().Equal(nginx.Profile()) {
		t.Fatal("the nginx draft did not come back as saved")
	}
	if added := observeAll(t, loaded, "c3", "n1", t0.Add(time.Hour), workload()...); added != 0 {
		t.Errorf("restarted draft added %d entries for behaviour learned before the restart", added)
	}
	if !loaded.Profile().Metadata.Learning.IsIncomplete() {
		t.Error("the incomplete flag was lost across the restart")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name()) {
			t.Errorf("leftover temporary file %s was not cleaned", e.Name())
		}
	}
	if err := restarted.Delete(other.Digest()); err != nil {
		t.Fatal(err)
	}
	if drafts, _ := restarted.LoadAll(); len(drafts) != 1 {
		t.Errorf("%d drafts after Delete, want 1", len(drafts))
	}
}

func TestCorruptDraftIsSetAside(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s, err := Open(dir, profile.Limits{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	good := mustDraft(t, "good", profile.Limits{})
	observeAll(t, good, "c", "n", t0, profile.Observation{Kind: profile.KindExec, Path: "/bin/good"})
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "sha256_"+strings.Repeat("ab", 32)+draftSuffix)
	if err := os.WriteFile(bad, []byte("apiVersion: vigil.dev/v1\nkind: [torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	drafts, err := s.LoadAll()
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadAll error %v: want one naming %s", err, bad)
	}
	if len(drafts) != 1 || drafts[0].Digest() != good.Digest() {
		t.Errorf("loaded %d drafts, want the good one only", len(drafts))
	}
	if _, err := os.Stat(bad + ".corrupt"); err != nil {
		t.Errorf("corrupt draft not kept for inspection: %v", err)
	}
	mfs, _ := reg.Gather()
	if len(mfs) != 1 || mfs[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("unloadable drafts metric: %v", mfs)
	}
	if _, err := s.LoadAll(); err != nil {
		t.Errorf("the set-aside file is retried: %v", err)
	}
}

// TestReadChangesNothing reads a state directory as `vigil-agent
// profiles` does beside a running agent: a torn draft and a save in flight
// are left as they are, and a missing directory is not created.
func TestReadChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	good := mustDraft(t, "good", profile.Limits{})
	observeAll(t, good, "c", "n", t0, profile.Observation{Kind: profile.KindExec, Path: "/bin/good"})
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "sha256_"+strings.Repeat("ab", 32)+draftSuffix)
	inFlight := filepath.Join(dir, ".tmp-x")
	for _, f := range []string{bad, inFlight} {
		if err := os.WriteFile(f, []byte("apiVersion: vigil.dev/v1\nkind: [torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := listDir(t, dir)
	drafts, skipped, err := Read(dir, profile.Limits{})
	if err != nil || len(skipped) != 1 || !strings.Contains(skipped[0].Error(), bad) {
		t.Errorf("Read skipped %v, error %v: want %s skipped", skipped, err, bad)
	}
	if len(drafts) != 1 || drafts[0].Digest() != good.Digest() {
		t.Errorf("read %d drafts, want the good one only", len(drafts))
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("Read changed the directory:\nbefore %s\nafter  %s", before, after)
	}

	missing := filepath.Join(dir, "none", "drafts")
	if _, _, err := Read(missing, profile.Limits{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want os.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read created state: %v", err)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustDraft(tb testing.TB, image string, lim profile.Limits) *profile.Draft {
	tb.Helper()
	d, err := profile.NewDraft(image, fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(image))), lim)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// observeAll feeds observations of one container, all at start, and
// returns how many were new.
func observeAll(tb testing.TB, d *profile.Draft, container, node string, start time.Time, obs ...profile.Observation) int {
	tb.Helper()
	added := 0
	for _, o := range obs {
		o.ContainerID, o.Node, o.Time = container, node, start
		if ok, err := d.Observe(o); err != nil {
			tb.Fatalf("observe %+v: %v", o, err)
		} else if ok {
			added++
		}
	}
	return added
}

// workload is a small set of observations of each kind.
func workload() []profile.Observation {
	return []profile.Observation{
		{Kind: profile.KindExec, Path: "/usr/sbin/nginx"},
		{Kind: profile.KindOpen, Path: "/etc/nginx/nginx.conf", Access: profile.AccessRead},
		{Kind: profile.KindOpen, Path: "/var/log/nginx/access.log", Access: profile.AccessWrite},
		{Kind: profile.KindConnect, Network: profile.Destination{Addr: netip.MustParseAddr("10.0.0.5"), Port: 5432, Protocol: profile.TCP}},
		{Kind: profile.KindConnect, UnixPath: "/run/nginx.sock"},
		{Kind: profile.KindCapability, Capability: 10},
	}
}
