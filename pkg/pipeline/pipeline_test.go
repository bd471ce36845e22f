package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// execs hands every exec to a channel, and stops the pipeline with errStop
// once it has seen stopAt.
type execs struct {
	seen   chan string
	stopAt string
	idle   int
}

var errStop = errors.New("stop")

func (h *execs) Handle(_ context.Context, ev *sensor.Event) error {
	if ev.Type != sensor.TypeExec {
		return nil
	}
	h.seen <- ev.Exec.Path
	if ev.Exec.Path == h.stopAt {
		return errStop
	}
	return nil
}

func (h *execs) Idle() error { h.idle++; return nil }

// TestPipelineFiltersByCgroupPathAndStopsOnHandlerError builds the
// observing pipeline scoped, by its path, to a test cgroup: an exec there
// reaches the handler; the handler's error stops Run and is what Run
// returns; every event handled is counted.
func TestPipelineFiltersByCgroupPathAndStopsOnHandlerError(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	root := strings.TrimSuffix(cg.Path, "/"+filepath.Base(cg.Path))
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.TypeExec)
	cfg.CgroupFilter = sensor.FilterInclude
	reg := prometheus.NewRegistry()
	p, err := New(Config{ProcRoot: procfs.DefaultRoot, Sensor: cfg, CgroupPaths: []string{strings.TrimPrefix(cg.Path, root)},
		Processes: 1 << 10}, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.Enforcement() != nil || p.Resolver() != nil {
		t.Error("an observing pipeline without containerd has enforcement or attribution")
	}
	truePath, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	h := &execs{seen: make(chan string, 64), stopAt: truePath}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, h) }()
	if err := cg.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, errStop) {
			t.Fatalf("Run returned %v, want the handler's error", err)
		}
	case <-ctx.Done():
		t.Fatal("the exec in the filtered cgroup never reached the handler")
	}
	close(h.seen)
	var paths []string
	for path := range h.seen {
		paths = append(paths, path)
	}
	if len(paths) != 1 || paths[0] != truePath {
		t.Errorf("execs handled: %q, want only %s (the cgroup filter lets nothing else through)", paths, truePath)
	}
	if h.idle == 0 {
		t.Error("Idle was never called, although the pipeline waited for events")
	}
	if n := promtest.ToFloat64(p.processed); n < 1 {
		t.Errorf("%v events counted processed, want the exec at least", n)
	}
}

// TestPipelineRejectsUnknownCgroupPath fails to build on a cgroup filter
// naming no cgroup, and leaves nothing loaded.
func TestPipelineRejectsUnknownCgroupPath(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := sensor.DefaultConfig()
	_, err := New(Config{ProcRoot: procfs.DefaultRoot, Sensor: cfg, CgroupPaths: []string{"/no-such-cgroup-for-vigil"}, Processes: 16},
		zaptest.NewLogger(t), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "no-such-cgroup-for-vigil") {
		t.Fatalf("error %v, want one naming the cgroup", err)
	}
}
