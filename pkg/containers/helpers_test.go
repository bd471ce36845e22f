package containers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	ctrdtest "github.com/vigil-dev/vigil/test/containerd"
)

// waitTimeout bounds every wait of these tests: resolution takes
// milliseconds here, reconnecting well under a second.
const waitTimeout = 20 * time.Second

// running is a Resolver under test with what it reports to.
type running struct {
	*Resolver
	scopes *memScopeTable
	reg    *prometheus.Registry
	logs   *observer.ObservedLogs
}

// newTestResolver makes a Resolver of socket with an in-memory scope table,
// its own registry and observed logs; it is closed in t.Cleanup.
func newTestResolver(t testing.TB, socket string) *running {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	rr := &running{scopes: newMemScopeTable(1024), reg: prometheus.NewRegistry(), logs: logs}
	r, err := New(Config{
		Socket: socket, Logger: zap.New(core), Registerer: rr.reg, Scopes: rr.scopes,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	rr.Resolver = r
	return rr
}

// startResolver makes a Resolver of socket and runs it until the test ends.
func startResolver(t testing.TB, socket string) *running {
	t.Helper()
	rr := newTestResolver(t, socket)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return within %s of cancel", waitTimeout)
		}
	})
	return rr
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitConnected waits until rr follows containerd.
func waitConnected(t testing.TB, rr *running) {
	t.Helper()
	waitFor(t, "the resolver to connect", rr.Connected)
}

// cgroupIDOf returns the id of a container's cgroup as the kernel reports it:
// the inode of its directory on the cgroup2 mount.
func cgroupIDOf(t testing.TB, rr *running, cgroupPath string) uint64 {
	t.Helper()
	id, err := cgroup.ID(filepath.Join(rr.cg.Mountpoint(), cgroupPath))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// known waits until the resolver learned cgroup id from containerd (without
// an on-demand lookup) and returns the container.
func known(t testing.TB, rr *running, id uint64) *Container {
	t.Helper()
	var c *Container
	waitFor(t, "the resolver to know the container", func() bool { c = rr.tbl.get(id); return c != nil })
	return c
}

// lookup is Lookup with a bounded context.
func lookup(t testing.TB, rr *running, id uint64) Attribution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return rr.Lookup(ctx, id)
}

// counter returns the value of a labelled counter of rr's metrics.
func counter(rr *running, vec *prometheus.CounterVec, label string) float64 {
	return testutil.ToFloat64(vec.WithLabelValues(label))
}

// mkCgroup creates a cgroup at path p of the cgroup2 hierarchy, removed in
// t.Cleanup, and returns its id.
func mkCgroup(t testing.TB, rr *running, p string) uint64 {
	t.Helper()
	dir := filepath.Join(rr.cg.Mountpoint(), p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("remove cgroup %s: %v", dir, err)
		}
	})
	return cgroupIDOf(t, rr, p)
}

// containerPath is the cgroup path containerd's default spec gives.
func containerPath(c *ctrdtest.Container) string {
	return "/" + c.Namespace + "/" + c.ID
}

// imported starts a private containerd with both test images in k8s.io.
func imported(t testing.TB) (*ctrdtest.Daemon, ctrdtest.Image, ctrdtest.Image) {
	t.Helper()
	d := ctrdtest.Start(t)
	bb, probe := ctrdtest.BusyboxImage(t), ctrdtest.ProbeImage(t)
	d.Import(t, ctrdtest.DefaultNamespace, bb)
	d.Import(t, ctrdtest.DefaultNamespace, probe)
	return d, bb, probe
}

// counterValue returns the value of an unlabelled counter.
func counterValue(c prometheus.Counter) float64 {
	return testutil.ToFloat64(c)
}
