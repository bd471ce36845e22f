package pipeline

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// cgroupsSeen hands the cgroup of every exec to a channel.
type cgroupsSeen chan uint64

func (h cgroupsSeen) Handle(_ context.Context, ev *sensor.Event) error {
	if ev.Type == sensor.TypeExec {
		h <- ev.CgroupID
	}
	return nil
}

func (cgroupsSeen) Idle() error { return nil }

// TestPipelineTakesJudgedEventsFirst queues execs of a learning (or host)
// cgroup, then one of a cgroup under a monitored scope, before the
// pipeline runs: the monitored one is handled first, ahead of everything
// queued before it.
func TestPipelineTakesJudgedEventsFirst(t *testing.T) {
	testutil.RequireRoot(t)
	const before = 5
	other, judged := testutil.NewCgroup(t), testutil.NewCgroup(t)
	root := strings.TrimSuffix(other.Path, "/"+filepath.Base(other.Path))
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.TypeExec)
	cfg.CgroupFilter = sensor.FilterInclude
	p, err := New(Config{ProcRoot: procfs.DefaultRoot, Sensor: cfg, Processes: 1 << 10,
		CgroupPaths: []string{strings.TrimPrefix(other.Path, root), strings.TrimPrefix(judged.Path, root)}},
		zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	objs := p.Sensor().Objects()
	if err := objs.Map(bpfobj.RecordMapScopePolicies).Put(uint32(1), bpfobj.RecordScopePolicy{Profile: 1}); err != nil {
		t.Fatal(err)
	}
	if err := objs.Map(bpfobj.RecordMapContainerScopes).Put(judged.ID, uint32(1)); err != nil {
		t.Fatal(err)
	}

	for range before {
		if err := other.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	if err := judged.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, p.Sensor(), before+1)

	h := make(cgroupsSeen, 2*before)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, h) }()
	var order []uint64
	for len(order) < before+1 {
		select {
		case id := <-h:
			order = append(order, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("handled execs of cgroups %v, want %d", order, before+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if order[0] != judged.ID {
		t.Errorf("execs handled from cgroups %v: the monitored cgroup %d's, queued last, was not first", order, judged.ID)
	}
}

// waitQueued waits until n execs are queued for the pipeline, one of them
// on the judged path.
func waitQueued(t *testing.T, s *sensor.Sensor, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Delivered[sensor.TypeExec] >= n && st.Judged.Delivered[sensor.TypeExec] >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d execs queued (%d judged), want %d", st.Delivered[sensor.TypeExec], st.Judged.Delivered[sensor.TypeExec], n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
