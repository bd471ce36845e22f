package profile

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestObserveReportsOnlyNewBehaviour(t *testing.T) {
	d := mustDraft(t, "nginx:1.27", Limits{})
	w := workload()
	// /proc/17 and /proc/18 generalise to one entry.
	if got, want := observeAll(t, d, "c1", "n1", t0, w...), len(w)-1; got != want {
		t.Errorf("first run added %d entries, want %d", got, want)
	}
	if got := observeAll(t, d, "c2", "n1", t0.Add(time.Hour), w...); got != 0 {
		t.Errorf("replaying the workload added %d entries, want 0", got)
	}
	added, err := d.Observe(openObs("/var/log/nginx/access.log", AccessRead))
	if err != nil || !added {
		t.Errorf("reading a file learned as write-only: added=%v err=%v, want the access widened", added, err)
	}
	p := d.Profile()
	if got := len(p.Spec.Files); got != 4 {
		t.Errorf("files: %d entries, want 4", got)
	}
	st := d.Stability(t0.Add(2 * time.Hour))
	if st.Containers != 2 || st.Nodes != 1 || st.Observations != uint64(2*len(w)+1) {
		t.Errorf("stability %+v: want 2 containers, 1 node, %d observations", st, 2*len(w)+1)
	}
	if want := t0.Add(time.Duration(len(w)-1) * time.Second); !st.LastNewEntry.Equal(want) {
		t.Errorf("last new entry %v, want %v (the observation without a time does not move it)", st.LastNewEntry, want)
	}
	if st.SinceLastNewEntry <= time.Hour {
		t.Errorf("since last new entry %v, want over an hour", st.SinceLastNewEntry)
	}
}

func TestNumericAndIDComponentsGeneralise(t *testing.T) {
	d := mustDraft(t, "app", Limits{})
	observeAll(t, d, "c", "n", t0,
		openObs("/proc/123/status", AccessRead),
		openObs("/proc/4567/status", AccessRead),
		openObs("/proc/1/task/2/stat", AccessRead),
		openObs("/var/lib/app/3f2a9c0d1e4b5a6f7788/meta", AccessRead),
		openObs("/run/secrets/123e4567-e89b-12d3-a456-426614174000/token", AccessRead),
		openObs("/etc/rc2.d/S01x", AccessRead), // not all digits: kept
		openObs("/srv/\xff\xfe/data", AccessRead),
	)
	var got []string
	for _, f := range d.Profile().Spec.Files {
		got = append(got, f.Path)
	}
	want := "/etc/rc2.d/S01x /proc/*/status /proc/*/task/*/stat /run/secrets/*/token /srv/*/data /var/lib/app/*/meta"
	if strings.Join(got, " ") != want {
		t.Errorf("files %q, want %q", strings.Join(got, " "), want)
	}
}

// TestTempFilesStaySmall is the bound: a workload that writes and
// reads back 10 000 randomly named temp files, plus files in 10 000 random
// temp directories, yields a profile of a handful of entries.
func TestTempFilesStaySmall(t *testing.T) {
	d := mustDraft(t, "worker", Limits{})
	rng := rand.New(rand.NewPCG(7, 7))
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rnd := func() string {
		b := make([]byte, 6)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	observeAll(t, d, "c", "n", t0, execObs("/usr/bin/worker"), openObs("/etc/hosts", AccessRead))
	for i := 0; i < 10000; i++ {
		f := "/tmp/tmp." + rnd()
		observeAll(t, d, fmt.Sprintf("c%d", i%50), "n", t0.Add(time.Duration(i)*time.Millisecond),
			execObs("/usr/bin/worker"),
			openObs(f, AccessWrite),
			openObs(f, AccessRead),
			openObs("/var/tmp/job-"+rnd()+"/out.json", AccessWrite),
		)
	}
	p := d.Profile()
	var files []string
	for _, f := range p.Spec.Files {
		files = append(files, f.String())
	}
	want := []string{"/etc/hosts (read)", "/tmp/* (readwrite)", "/var/tmp/*/out.json (write)"}
	if strings.Join(files, ", ") != strings.Join(want, ", ") {
		t.Errorf("files %q, want %q", files, want)
	}
	if n := p.Spec.Entries(); n != 4 {
		t.Errorf("profile has %d entries, want 4", n)
	}
	y, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(y) > 4096 {
		t.Errorf("profile YAML is %d bytes, want under 4 KiB", len(y))
	}
	t.Logf("10 000 temp files + 10 000 temp dirs → %d entries, %d bytes of YAML", p.Spec.Entries(), len(y))
	if p.Metadata.Learning.IsIncomplete() {
		t.Errorf("profile marked incomplete: %v", p.Metadata.Learning.Incomplete)
	}
}

func TestManyHostsInASubnetCollapse(t *testing.T) {
	d := mustDraft(t, "client", Limits{NetCollapseThreshold: 4})
	for i := 1; i <= 20; i++ {
		observeAll(t, d, "c", "n", t0, connObs(fmt.Sprintf("10.1.2.%d", i), 8080, TCP))
	}
	observeAll(t, d, "c", "n", t0, connObs("10.1.3.1", 8080, TCP), connObs("10.1.2.99", 9090, TCP))
	var got []string
	for _, e := range d.Profile().Spec.Network {
		got = append(got, e.String())
	}
	want := "tcp 10.1.2.0/24 port 8080, tcp 10.1.2.99 port 9090, tcp 10.1.3.1 port 8080"
	if strings.Join(got, ", ") != want {
		t.Errorf("network %q, want %q", strings.Join(got, ", "), want)
	}
	if added, _ := d.Observe(connObs("10.1.2.200", 8080, TCP)); added {
		t.Error("a new host of the collapsed subnet added an entry")
	}
	if e := d.Profile().Spec.Network[0]; e.Evidence.Count != 21 {
		t.Errorf("collapsed entry count %d, want 21 (20 merged + 1)", e.Evidence.Count)
	}
}

func TestListLimitMarksIncomplete(t *testing.T) {
	d := mustDraft(t, "busy", Limits{MaxEntries: 10})
	for i := 0; i < 25; i++ {
		// Distinct top-level directories: nothing collapses.
		observeAll(t, d, "c", "n", t0, execObs(fmt.Sprintf("/opt%c/bin/tool", 'a'+i)))
	}
	p := d.Profile()
	if n := len(p.Spec.Executables); n != 10 {
		t.Errorf("%d executables, want the limit 10", n)
	}
	want := []IncompleteReason{{Reason: "executables list full (limit 10 entries)", Count: 15}}
	if got := p.Metadata.Learning.Incomplete; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("incomplete %v, want %v", got, want)
	}
	d.MarkIncomplete("ring buffer lost events", 3)
	d.MarkIncomplete("ring buffer lost events", 2)
	d.MarkIncomplete("unattributed events", 1)
	got := d.Profile().Metadata.Learning.Incomplete
	if len(got) != 3 || got[1] != (IncompleteReason{"ring buffer lost events", 5}) {
		t.Errorf("incomplete %v: want reasons summed and sorted", got)
	}
}

func TestEvidenceCountsDistinctAndCaps(t *testing.T) {
	d := mustDraft(t, "app", Limits{MaxEvidenceIDs: 2})
	for i, c := range []string{"cccccccccccccccccccc", "aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaaaaaa"} {
		o := capObs(13)
		o.ContainerID, o.Node, o.Time = c, fmt.Sprintf("node-%d", i%2), t0.Add(time.Duration(-i)*time.Minute)
		if _, err := d.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	ev := d.Profile().Spec.Capabilities[0].Evidence
	if ev.Count != 4 || !ev.FirstSeen.Equal(t0.Add(-3*time.Minute)) || !ev.LastSeen.Equal(t0) {
		t.Errorf("evidence %+v: want count 4, first seen t0-3m, last seen t0", ev)
	}
	if got := ev.Containers; !got.Capped || strings.Join(got.IDs, ",") != "aaaaaaaaaaaa,bbbbbbbbbbbb" {
		t.Errorf("containers %+v: want the two smallest short ids, capped", got)
	}
	if got := ev.Nodes; got.Capped || got.Len() != 2 {
		t.Errorf("nodes %+v: want 2, not capped", got)
	}
}

// TestRepeatsCountAsObservations folds an observation that stands for
// others the kernel kept (a learning container's repeated opens).
func TestRepeatsCountAsObservations(t *testing.T) {
	d := mustDraft(t, "app", Limits{})
	o := openObs("/etc/app.conf", AccessRead)
	o.Repeats = 41
	for range 2 {
		if _, err := d.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	p := d.Profile()
	if got := p.Spec.Files[0].Evidence.Count; got != 84 {
		t.Errorf("evidence count %d, want 84 (2 reports of 1 + 41)", got)
	}
	if got := p.Metadata.Learning.Observations; got != 84 {
		t.Errorf("learning observations %d, want 84", got)
	}
}

func TestObserveRejectsMalformed(t *testing.T) {
	d := mustDraft(t, "app", Limits{})
	for _, o := range []Observation{
		execObs("bin/sh"),
		openObs("/etc/passwd", 0),
		openObs("/etc/passwd", 7),
		{Kind: KindConnect},
		{Kind: KindConnect, Network: Destination{Addr: netip.MustParseAddr("10.0.0.1"), Port: 1}},
		capObs(99),
		unixObs("@bad\x00name"),
		unixObs("@\xff"),
		{Kind: 42},
	} {
		if added, err := d.Observe(o); err == nil || added {
			t.Errorf("Observe(%+v) = %v, %v; want an error", o, added, err)
		}
	}
	if n := d.Profile().Spec.Entries(); n != 0 {
		t.Errorf("malformed observations left %d entries", n)
	}
	if _, err := NewDraft("x", "latest", Limits{}); err == nil {
		t.Error("NewDraft accepted a tag as digest")
	}
}

// TestUnixPathsGeneraliseAsFiles checks that unix socket paths are learned
// with the files' generalisation — volatile names as "*" or {n}, a
// directory with too many children as dir/* — so that the kernel's file
// matcher enforces them as it does files; abstract names are kept whole.
func TestUnixPathsGeneraliseAsFiles(t *testing.T) {
	paths := []string{
		"/run/pods/123e4567-e89b-12d3-a456-426614174000/api.sock",
		"/run/app/worker-20261206.sock",
		"/var/run/postgresql/.s.PGSQL.5432",
	}
	for i := range 40 {
		paths = append(paths, fmt.Sprintf("/run/svc/s%c.sock", 'a'+i%26)+strings.Repeat("x", i/26))
	}
	lim := Limits{CollapseThreshold: 8}
	sockets, files := mustDraft(t, "app", lim), mustDraft(t, "app", lim)
	for _, p := range paths {
		observeAll(t, sockets, "c", "n", t0, unixObs(p))
		observeAll(t, files, "c", "n", t0, openObs(p, AccessRead))
	}
	observeAll(t, sockets, "c", "n", t0, unixObs("@/containerd-shim/4f2a9c0d1e4b5a6f7788.sock"))
	var got, want []string
	for _, n := range sockets.Profile().Spec.Network {
		got = append(got, n.Unix)
	}
	for _, f := range files.Profile().Spec.Files {
		want = append(want, f.Path)
	}
	want = append(want, "@/containerd-shim/4f2a9c0d1e4b5a6f7788.sock")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("unix entries %q, want the files' generalisation and the abstract name whole: %q", got, want)
	}
	if !slices.Contains(got, "/run/svc/*") || !slices.Contains(got, "/run/pods/*/api.sock") {
		t.Errorf("unix entries %q: want /run/svc collapsed and the UUID generalised", got)
	}
}
