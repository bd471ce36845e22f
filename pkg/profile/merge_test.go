package profile

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/textdiff"
)

func TestMergeCombinesEvidence(t *testing.T) {
	a := mustDraft(t, "nginx:1.27", Limits{})
	observeAll(t, a, "aaaa", "node-a", t0, execObs("/usr/sbin/nginx"), execObs("/usr/sbin/nginx"), capObs(10))
	a.MarkIncomplete("ring buffer lost events", 2)
	b := mustDraft(t, "nginx:1.27", Limits{})
	observeAll(t, b, "bbbb", "node-b", t0.Add(-time.Hour), execObs("/usr/sbin/nginx"), openObs("/etc/passwd", AccessRead))
	observeAll(t, b, "cccc", "node-b", t0.Add(2*time.Hour), execObs("/usr/sbin/nginx"))
	b.MarkIncomplete("ring buffer lost events", 1)
	b.MarkIncomplete("unattributed events", 4)

	m, err := Merge(Limits{}, a.Profile(), b.Profile())
	if err != nil {
		t.Fatal(err)
	}
	ev := m.Spec.Executables[0].Evidence
	if ev.Count != 4 || !ev.FirstSeen.Equal(t0.Add(-time.Hour)) || !ev.LastSeen.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("nginx evidence %+v: want count 4, first t0-1h, last t0+2h", ev)
	}
	if got := strings.Join(ev.Containers.IDs, ","); got != "aaaa,bbbb,cccc" {
		t.Errorf("containers %s, want aaaa,bbbb,cccc", got)
	}
	if got := strings.Join(ev.Nodes.IDs, ","); got != "node-a,node-b" {
		t.Errorf("nodes %s, want node-a,node-b", got)
	}
	if n := m.Spec.Entries(); n != 3 {
		t.Errorf("%d entries, want 3 (nginx, /etc/passwd, CAP_NET_BIND_SERVICE)", n)
	}
	l := m.Metadata.Learning
	if l.Observations != 6 || l.Containers.Len() != 3 || l.Nodes.Len() != 2 || !l.Started.Equal(t0.Add(-time.Hour)) {
		t.Errorf("learning %+v: want 6 observations, 3 containers, 2 nodes, started t0-1h", l)
	}
	if fmt.Sprint(l.Incomplete) != "[{ring buffer lost events 3} {unattributed events 4}]" {
		t.Errorf("incomplete %v: want reasons summed", l.Incomplete)
	}
	if _, err := Merge(Limits{}, a.Profile(), mustDraft(t, "other", Limits{}).Profile()); err == nil {
		t.Error("merging different digests succeeded")
	}
}

// TestMergeGeneralisesTheUnion: each node saw too few temp files to
// collapse, together they pass the threshold; a node that already collapsed
// absorbs the other's specific entries; the result is order-independent.
func TestMergeGeneralisesTheUnion(t *testing.T) {
	lim := Limits{CollapseThreshold: 8}
	var parts []*Profile
	for n := 0; n < 3; n++ {
		d := mustDraft(t, "w", lim)
		for i := 0; i < 6; i++ {
			observeAll(t, d, "c", fmt.Sprintf("node-%d", n), t0, openObs(fmt.Sprintf("/tmp/f%d-%d", n, i), AccessWrite))
		}
		observeAll(t, d, "c", fmt.Sprintf("node-%d", n), t0, execObs("/bin/w"))
		parts = append(parts, d.Profile())
	}
	wide := mustDraft(t, "w", lim)
	for i := 0; i < 9; i++ {
		observeAll(t, wide, "c", "node-9", t0, openObs(fmt.Sprintf("/var/spool/x%d", i), AccessWrite))
	}
	observeAll(t, wide, "c", "node-9", t0, openObs("/var/spool/a/b", AccessWrite))
	parts = append(parts, wide.Profile())
	special := mustDraft(t, "w", lim)
	observeAll(t, special, "c", "node-8", t0, openObs("/var/spool/only-here", AccessWrite))
	parts = append(parts, special.Profile())

	m, err := Merge(lim, parts...)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range m.Spec.Files {
		files = append(files, fmt.Sprintf("%s×%d", f, f.Evidence.Count))
	}
	want := "/tmp/* (write)×18, /var/spool/* (write)×10, /var/spool/a/b (write)×1"
	if strings.Join(files, ", ") != want {
		t.Errorf("files %s, want %s", strings.Join(files, ", "), want)
	}
	first, _ := Encode(m)
	rev := []*Profile{parts[4], parts[2], parts[0], parts[3], parts[1]}
	m2, err := Merge(lim, rev...)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := Encode(m2)
	if !bytes.Equal(first, second) {
		t.Errorf("merge depends on order:\n%s", textdiff.Unified("order 1", "order 2", first, second))
	}
}

func TestMergeFoldsRedundantEntries(t *testing.T) {
	hand, err := Decode("hand.yaml", []byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	hand.Spec.Files = append(hand.Spec.Files, FileEntry{Path: "/usr/lib/**", Access: AccessRead})
	d, err := NewDraft("", hand.Metadata.Digest, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	observeAll(t, d, "c", "n", t0, openObs("/usr/lib/libc.so", AccessRead), openObs("/usr/lib/x/y.so", AccessWrite),
		connObs("10.2.3.4", 443, TCP), connObs("10.2.3.4", 80, TCP))
	m, err := Merge(Limits{}, hand, d.Profile())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range m.Spec.Files {
		got = append(got, f.String())
	}
	for _, n := range m.Spec.Network {
		got = append(got, n.String())
	}
	want := "/etc/hosts (read), /usr/lib/** (read), /usr/lib/x/y.so (write), tcp 10.0.0.0/8 port 443, tcp 10.2.3.4 port 80"
	if strings.Join(got, ", ") != want {
		t.Errorf("merged %q, want %q", strings.Join(got, ", "), want)
	}
	if c := m.Spec.Files[1].Evidence.Count; c != 1 {
		t.Errorf("/usr/lib/** count %d, want the folded libc.so read (1)", c)
	}
}

func TestMergeAppliesLimits(t *testing.T) {
	var parts []*Profile
	for n := 0; n < 2; n++ {
		d := mustDraft(t, "m", Limits{})
		for i := 0; i < 6; i++ {
			for k := 0; k <= i+n; k++ {
				observeAll(t, d, "c", "n", t0, execObs(fmt.Sprintf("/opt%d/bin/t%d", i+6*n, i)))
			}
		}
		parts = append(parts, d.Profile())
	}
	m, err := Merge(Limits{MaxEntries: 4}, parts...)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Spec.Executables); n != 4 {
		t.Fatalf("%d executables, want the limit 4", n)
	}
	for _, e := range m.Spec.Executables {
		if e.Evidence.Count < 5 {
			t.Errorf("kept %s seen %d times; the busiest entries should stay", e.Path, e.Evidence.Count)
		}
	}
	inc := m.Metadata.Learning.Incomplete
	if len(inc) != 1 || inc[0].Reason != "executables list full (limit 4 entries)" || inc[0].Count != 1+2+3+4+2+3+4+5 {
		t.Errorf("incomplete %v: want the dropped observations counted", inc)
	}
}

func TestDraftFromProfileResumes(t *testing.T) {
	d := mustDraft(t, "nginx:1.27", Limits{})
	observeAll(t, d, "c1", "n1", t0, workload()...)
	r, err := DraftFromProfile(d.Profile(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if added := observeAll(t, r, "c2", "n1", t0.Add(time.Hour), workload()...); added != 0 {
		t.Errorf("resumed draft added %d entries for known behaviour", added)
	}
	if added := observeAll(t, r, "c2", "n1", t0.Add(time.Hour), execObs("/bin/cat")); added != 1 {
		t.Errorf("resumed draft added %d entries for new behaviour, want 1", added)
	}
	if st := r.Stability(t0.Add(2 * time.Hour)); st.Containers != 2 || st.Observations != uint64(2*len(workload())+1) {
		t.Errorf("resumed stability %+v: want the learning run carried over", st)
	}
}
