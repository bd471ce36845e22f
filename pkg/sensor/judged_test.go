package sensor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestJudgedEventsSurviveAFlood floods the sensor from one cgroup (learning
// or host traffic) with a ring buffer and a queue far too small for it and a
// slow consumer, while a cgroup under a monitored scope opens a file its
// profile does not allow 200 times: every one of the 200 reaches the
// consumer on the judged path, whose buffers hold no more than they must,
// and every event of the flood is received or counted lost, and charged to
// the flood's cgroup.
func TestJudgedEventsSurviveAFlood(t *testing.T) {
	testutil.RequireRoot(t)
	const violations = 200

	flooder, judged := testutil.NewCgroup(t), testutil.NewCgroup(t)
	cfg := defaultTestConfig(TypeOpen)
	cfg.RingBufferSize = 64 << 10
	cfg.QueueSize = 64
	cfg.JudgedRingBufferSize = 64 << 10
	cfg.JudgedQueueSize = 256
	cfg.CgroupFilter = FilterInclude
	cfg.Cgroups = []uint64{flooder.ID, judged.ID}
	cfg.HostMntNS = testutil.RuntimeMountNamespace(t)
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// A monitored scope: profile 1 allows nothing, so every open is news.
	const scope = 7
	if err := s.Objects().Map(bpfobj.RecordMapScopePolicies).Put(uint32(scope),
		bpfobj.RecordScopePolicy{Profile: 1, Suppress: uint32(bpfobj.RecordVigilEnforceVIGIL_ENFORCE_OPEN)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Objects().Map(bpfobj.RecordMapContainerScopes).Put(judged.ID, uint32(scope)); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	floodTarget, forbidden, stop := filepath.Join(dir, "flood"), filepath.Join(dir, "forbidden"), filepath.Join(dir, "stop")
	for _, f := range []string{floodTarget, forbidden} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	received := make(chan map[uint64]int)
	go func() { received <- consumeSlowly(s) }()

	// Both helpers start outside their cgroups and join once their runtime
	// is up: the cgroups see exactly their opens of the files.
	flood := outsideHelper("flood-until", filepath.Join(flooder.Path, "cgroup.procs"), floodTarget, stop)
	var floodOut strings.Builder
	flood.Stdout = &floodOut
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	waitLosing(t, s)
	if out, err := outsideHelper("flood", filepath.Join(judged.Path, "cgroup.procs"), strconv.Itoa(violations), forbidden).CombinedOutput(); err != nil {
		t.Fatalf("violations: %v: %s", err, out)
	}
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := flood.Wait(); err != nil {
		t.Fatalf("flood: %v", err)
	}
	floodOpens, err := strconv.ParseUint(strings.TrimSpace(floodOut.String()), 10, 64)
	if err != nil {
		t.Fatalf("flood count %q: %v", floodOut.String(), err)
	}

	st := waitSettled(t, s, floodOpens+violations)
	byCgroup, err := s.DrainLosses()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := <-received
	floodLost := st.Lost(TypeOpen) - st.Judged.Lost(TypeOpen)
	t.Logf("flood: %d opens, %d received, %d lost (ring buffer %d, queue %d); monitored: %d of %d received, %d emitted on the judged path, %d lost",
		floodOpens, got[flooder.ID], floodLost, st.LostRingBuffer[TypeOpen]-st.Judged.LostRingBuffer[TypeOpen],
		st.DroppedQueue[TypeOpen]-st.Judged.DroppedQueue[TypeOpen], got[judged.ID], violations, st.Judged.Emitted[TypeOpen], st.Judged.Lost(TypeOpen))
	if got[judged.ID] != violations || st.Judged.Lost(TypeOpen) != 0 || st.Judged.Delivered[TypeOpen] != violations {
		t.Errorf("the consumer received %d of the monitored container's %d violations (%d delivered on the judged path, %d lost there)",
			got[judged.ID], violations, st.Judged.Delivered[TypeOpen], st.Judged.Lost(TypeOpen))
	}
	if floodLost == 0 {
		t.Error("the flood lost nothing: the overflow was not exercised")
	}
	if uint64(got[flooder.ID])+floodLost != floodOpens {
		t.Errorf("flood: received %d + lost %d, want %d", got[flooder.ID], floodLost, floodOpens)
	}
	// Bar one per CPU racing to add the cgroup's first loss.
	if n := byCgroup[flooder.ID]; len(byCgroup) > 1 || n > floodLost || floodLost-n > 2 {
		t.Errorf("losses by cgroup %v, want %d for the flood's cgroup %d", byCgroup, floodLost, flooder.ID)
	}
}

func outsideHelper(mode string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// consumeSlowly counts the open events of each cgroup, pausing as a busy
// pipeline would, until the sensor closes.
func consumeSlowly(s *Sensor) map[uint64]int {
	got := map[uint64]int{}
	n := 0
	for ev := range Merged(s) {
		if ev.Type == TypeOpen {
			got[ev.CgroupID]++
		}
		if n++; n%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return got
}

// waitLosing waits until the sensor drops events.
func waitLosing(t *testing.T, s *Sensor) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Lost(TypeOpen) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flood lost nothing in 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
