package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/pipeline"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

const waitTimeout = 20 * time.Second

// recorded is the node pipeline the agent and trace build (sensor, process
// table, container attribution, enforcement's kernel side), scoped to the
// cgroups of one containerd namespace, with every record it enriches.
type recorded struct {
	pipeline *pipeline.Pipeline

	mu      sync.Mutex
	records []enrich.Record
	signal  chan struct{}
}

func startPipeline(t *testing.T, d *containerdtest.Daemon, scope uint64) *recorded {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.AllTypes...)
	cfg.CgroupFilter = sensor.FilterInclude
	cfg.Cgroups = []uint64{scope}
	kcfg := enforce.DefaultKernelConfig()
	p, err := pipeline.New(pipeline.Config{ProcRoot: procfs.DefaultRoot, Sensor: cfg, Enforce: &kcfg,
		ContainerdSocket: d.Address, Processes: 1 << 16}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("start the pipeline: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	r := &recorded{pipeline: p, signal: make(chan struct{}, 1)}
	testutil.RunUntilCleanup(t, "pipeline", func(ctx context.Context) error { return p.Run(ctx, r) })
	return r
}

// Handle keeps every record, with its own copy of the event (the pipeline
// releases it after the call) and its own ancestry.
func (r *recorded) Handle(ctx context.Context, ev *sensor.Event) error {
	own := *ev
	var rec enrich.Record
	r.pipeline.Enricher().Enrich(ctx, &own, &rec)
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
	return nil
}

func (*recorded) Idle() error { return nil }

// waitFor returns the first record match accepts.
func (p *recorded) waitFor(t *testing.T, what string, match func(*enrich.Record) bool) enrich.Record {
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
func (p *recorded) unattributed() []enrich.Record {
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
