package sensor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestFloodAccountsForEveryEvent issues 200 000 opens and checks that every
// one is either received or counted lost, with a comfortable configuration
// and with buffers far too small for the burst.
func TestFloodAccountsForEveryEvent(t *testing.T) {
	testutil.RequireRoot(t)
	const opens = 200_000

	for _, tc := range []struct {
		name       string
		ringBuffer int
		queue      int
		slowReader bool // the consumer starts reading only after the burst
	}{
		{name: "roomy", ringBuffer: 64 << 20, queue: 1 << 18},
		{name: "tiny ring buffer", ringBuffer: 4096, queue: 1 << 18},
		{name: "slow consumer", ringBuffer: 64 << 20, queue: 64, slowReader: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cg := testutil.NewCgroup(t)
			cfg := defaultTestConfig(TypeOpen)
			cfg.RingBufferSize = tc.ringBuffer
			cfg.QueueSize = tc.queue
			cfg.CgroupFilter = FilterInclude
			cfg.Cgroups = []uint64{cg.ID}
			s, err := New(cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })

			received := make(chan int)
			start := make(chan struct{})
			go func() {
				if tc.slowReader {
					<-start
				}
				n := 0
				for ev := range Merged(s) {
					if ev.Type == TypeOpen {
						n++
					}
				}
				received <- n
			}()

			target := filepath.Join(t.TempDir(), "target")
			if err := os.WriteFile(target, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// Started outside the cgroup; it joins once its runtime is up, so the
			// cgroup sees exactly its opens of target.
			cmd := exec.Command(os.Args[0], filepath.Join(cg.Path, "cgroup.procs"), strconv.Itoa(opens), target)
			cmd.Env = append(os.Environ(), helperEnv+"=flood")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("flood: %v: %s", err, out)
			}
			close(start)

			st := waitSettled(t, s, opens)
			byCgroup, err := s.DrainLosses()
			if err != nil {
				t.Fatal(err)
			}
			// Every loss is charged to the flood's cgroup, bar one per
			// CPU racing to add its first loss.
			if n := byCgroup[cg.ID]; len(byCgroup) > 1 || n > st.Lost(TypeOpen) || st.Lost(TypeOpen)-n > 2 {
				t.Errorf("losses by cgroup %v, want %d for the flood's cgroup %d", byCgroup, st.Lost(TypeOpen), cg.ID)
			}
			if again, err := s.DrainLosses(); err != nil || len(again) != 0 {
				t.Errorf("a second drain: %v, %v; want nothing", again, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got := <-received
			lost := st.Lost(TypeOpen)
			t.Logf("issued %d: received %d, lost %d in the ring buffer and %d in the queue, %d decode errors",
				opens, got, st.LostRingBuffer[TypeOpen], st.DroppedQueue[TypeOpen], st.DecodeErrors)
			if uint64(got)+lost != opens || st.DecodeErrors != 0 {
				t.Errorf("received %d + lost %d = %d, want %d", got, lost, uint64(got)+lost, opens)
			}
			if tc.slowReader && st.DroppedQueue[TypeOpen] == 0 {
				t.Error("a 64-event queue held a 200 000-event burst: the queue-full path was not exercised")
			}
		})
	}
}

// waitSettled waits until the kernel has accounted for n open events and the
// reader has handed on or dropped every one it emitted.
func waitSettled(t *testing.T, s *Sensor, n uint64) Stats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		kernel := st.Emitted[TypeOpen] + st.LostRingBuffer[TypeOpen]
		user := st.Delivered[TypeOpen] + st.DroppedQueue[TypeOpen]
		if kernel == n && user == st.Emitted[TypeOpen] {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled after 30s: kernel saw %d of %d opens, reader accounted %d of %d emitted",
				kernel, n, user, st.Emitted[TypeOpen])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
