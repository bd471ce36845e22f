package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func openStore(t *testing.T, dir string) *DraftStore {
	t.Helper()
	s, err := OpenDraftStore(dir, Limits{}, prometheus.NewRegistry())
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
	nginx := mustDraft(t, "nginx:1.27", Limits{})
	observeAll(t, nginx, "c1", "n1", t0, workload()...)
	nginx.MarkIncomplete("ring buffer lost events", 4)
	other := mustDraft(t, "redis:7", Limits{})
	observeAll(t, other, "c2", "n1", t0, execObs("/usr/local/bin/redis-server"))
	for _, d := range []*Draft{nginx, other} {
		if err := s.Save(d); err != nil {
			t.Fatal(err)
		}
	}
	// Saving again replaces the file in place.
	observeAll(t, nginx, "c1", "n1", t0.Add(time.Minute), execObs("/bin/true"))
	if err := s.Save(nginx); err != nil {
		t.Fatal(err)
	}
	// An interrupted save leaves a temporary file behind.
	if err := os.WriteFile(filepath.Join(dir, tmpPrefix+"x-123"), []byte("half"), 0o600); err != nil {
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
	var loaded *Draft
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
		if strings.HasPrefix(e.Name(), tmpPrefix) {
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
	s, err := OpenDraftStore(dir, Limits{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	good := mustDraft(t, "good", Limits{})
	observeAll(t, good, "c", "n", t0, execObs("/bin/good"))
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

// TestReadDraftsChangesNothing reads a state directory as `vigil-agent
// profiles` does beside a running agent: a torn draft and a save in flight
// are left as they are, and a missing directory is not created.
func TestReadDraftsChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	good := mustDraft(t, "good", Limits{})
	observeAll(t, good, "c", "n", t0, execObs("/bin/good"))
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "sha256_"+strings.Repeat("ab", 32)+draftSuffix)
	inFlight := filepath.Join(dir, tmpPrefix+"x")
	for _, f := range []string{bad, inFlight} {
		if err := os.WriteFile(f, []byte("apiVersion: vigil.dev/v1\nkind: [torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := listDir(t, dir)
	drafts, skipped, err := ReadDrafts(dir, Limits{})
	if err != nil || len(skipped) != 1 || !strings.Contains(skipped[0].Error(), bad) {
		t.Errorf("ReadDrafts skipped %v, error %v: want %s skipped", skipped, err, bad)
	}
	if len(drafts) != 1 || drafts[0].Digest() != good.Digest() {
		t.Errorf("read %d drafts, want the good one only", len(drafts))
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("ReadDrafts changed the directory:\nbefore %s\nafter  %s", before, after)
	}

	missing := filepath.Join(dir, "none", "drafts")
	if _, _, err := ReadDrafts(missing, Limits{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want os.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadDrafts created state: %v", err)
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
