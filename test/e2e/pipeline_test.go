package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

const waitTimeout = 20 * time.Second

// pipeline is the agent's trace pipeline — sensor, process table, container
// attribution — scoped to the cgroups of one containerd namespace.
type pipeline struct {
	sensor   *sensor.Sensor
	kernel   *enforce.Kernel
	resolver *containers.Resolver

	mu      sync.Mutex
	records []enrich.Record
	signal  chan struct{}
}

// namespaceCgroup creates the cgroup containerd puts a namespace's
// containers under (/<namespace>/<id>), so the sensor can be scoped to it
// before any container exists. It is removed after everything in it.
func namespaceCgroup(t *testing.T, ns string) uint64 {
	t.Helper()
	root, err := cgroup.Mountpoint(procfs.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ns)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	id, err := cgroup.ID(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func startPipeline(t *testing.T, d *containerdtest.Daemon, scope uint64) *pipeline {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.AllTypes...)
	cfg.CgroupFilter = sensor.FilterInclude
	cfg.Cgroups = []uint64{scope}
	kcfg := enforce.DefaultKernelConfig()
	s, err := sensor.New(cfg, log, kcfg.Programs())
	if err != nil {
		t.Fatalf("start sensor: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	k, err := enforce.NewKernel(s.Objects(), kcfg, log)
	if err != nil {
		t.Fatal(err)
	}

	r, err := containers.New(containers.Config{
		Socket: d.Address, Logger: log, Registerer: prometheus.NewRegistry(), Scopes: k.Scopes(),
	})
	if err != nil {
		t.Fatalf("start resolver: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-runDone
		r.Close()
	})

	p := &pipeline{sensor: s, kernel: k, resolver: r, signal: make(chan struct{}, 1)}
	table := process.NewTable(1<<16, 5*time.Second, hostMntNS(t))
	if err := table.Seed("/proc", ""); err != nil {
		t.Fatal(err)
	}
	enricher := enrich.NewEnricher(table, r)
	go func() {
		for ev := range s.Events() {
			enricher.Observe(&ev)
			var rec enrich.Record // kept: its ancestry is its own
			enricher.Enrich(ctx, &ev, &rec)
			p.mu.Lock()
			p.records = append(p.records, rec)
			p.mu.Unlock()
			select {
			case p.signal <- struct{}{}:
			default:
			}
		}
	}()
	return p
}

// waitFor returns the first record match accepts.
func (p *pipeline) waitFor(t *testing.T, what string, match func(*enrich.Record) bool) enrich.Record {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		p.mu.Lock()
		for i := range p.records {
			if match(&p.records[i]) {
				rec := p.records[i]
				p.mu.Unlock()
				return rec
			}
		}
		n := len(p.records)
		p.mu.Unlock()
		select {
		case <-p.signal:
		case <-deadline:
			t.Fatalf("no %s among %d records after %v", what, n, waitTimeout)
		}
	}
}

// unattributed counts records the pipeline could not attribute.
func (p *pipeline) unattributed() []enrich.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []enrich.Record
	for _, r := range p.records {
		if r.Attribution.Kind == containers.Unattributed {
			out = append(out, r)
		}
	}
	return out
}

func inContainer(id string, typ sensor.Type, match func(*sensor.Event) bool) func(*enrich.Record) bool {
	return func(r *enrich.Record) bool {
		c := r.Attribution.Container
		return c != nil && c.ID == id && r.Event.Type == typ && match(r.Event)
	}
}

func hostMntNS(t *testing.T) uint32 {
	t.Helper()
	ns, err := procfs.HostMountNamespace("/proc")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
