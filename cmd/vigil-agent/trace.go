package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/pipeline"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/pkg/trace"
)

type traceOptions struct {
	json           bool
	duration       time.Duration
	types          string
	metricsAddr    string
	cgroups        []string
	excludeCgroups []string
	ringBufferSize int
	queueSize      int
	procRoot       string
	containerd     string
	out            io.Writer
}

func newTraceCommand(g *globalOptions) *cobra.Command {
	def := sensor.DefaultConfig()
	o := traceOptions{ringBufferSize: def.RingBufferSize, queueSize: def.QueueSize}
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Print every exec, open, connect and capability use on this node, one per line",
		Long: `trace loads vigil's eBPF sensors and prints one event per line: a readable
table, or with --json one JSON object per line (the schema is in README.md).
Counters and health are served on --metrics-addr (/metrics, /healthz) when
it is given; the losses are logged when trace ends. Nothing is served by
default, so trace runs beside a running agent (which serves 127.0.0.1:9700).`,
		Example: `  # Every exec, open, connect and capability use on this node, as a table
  vigil-agent trace
  # Execs and connects for 30 s, as JSON lines
  vigil-agent trace --json --types exec,connect --duration 30s
  # Only containerd's Kubernetes containers, with metrics on another port than the agent's
  vigil-agent trace --cgroup /k8s.io --metrics-addr 127.0.0.1:9701`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck // stderr sync fails on some terminals
			o.out = cmd.OutOrStdout()
			return runTrace(cmd.Context(), o, log)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "one JSON object per line instead of a table")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until interrupted)")
	f.StringVar(&o.types, "types", "exec,open,connect,capability,io_uring", "event types to trace: exec, open, connect, capability, io_uring, fork, exit")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics and /healthz here (default: none; the agent's own are on "+agent.DefaultMetricsAddr+")")
	f.StringSliceVar(&o.cgroups, "cgroup", nil, "trace only these cgroups and their descendants (paths in the cgroup2 hierarchy, as in /proc/<pid>/cgroup; repeatable)")
	f.StringSliceVar(&o.excludeCgroups, "exclude-cgroup", nil, "trace everything but these cgroup2 paths and their descendants")
	f.IntVar(&o.ringBufferSize, "ring-buffer-size", o.ringBufferSize, "kernel ring buffer bytes (rounded up to a power of two)")
	f.IntVar(&o.queueSize, "queue-size", o.queueSize, "decoded events buffered for the printer before drops (counted)")
	f.StringVar(&o.procRoot, "proc", procfs.DefaultRoot, "procfs of the host's pid namespace")
	f.StringVar(&o.containerd, "containerd-socket", containers.DefaultSocket, `containerd's socket, for container attribution ("" for host-only)`)
	var types []string
	for _, t := range sensor.AllTypes {
		types = append(types, t.String())
	}
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{"types": cliout.Fixed(types...)})
	return cmd
}

func runTrace(ctx context.Context, o traceOptions, log *zap.Logger) error {
	types, err := sensor.ParseTypeSet(o.types)
	if err != nil {
		return fmt.Errorf("--types: %w", err)
	}
	// Bound first: a taken address fails before anything is loaded.
	reg := prometheus.NewRegistry()
	var started atomic.Bool
	if o.metricsAddr != "" {
		srv, err := listenTelemetry(o.metricsAddr, reg, attached(&started), log, "leave --metrics-addr out to serve none")
		if err != nil {
			return err
		}
		defer srv.Close()
		log.Info("serving metrics", zap.Stringer("addr", srv.Addr()))
	}
	cfg := sensor.DefaultConfig()
	cfg.Types = types
	cfg.RingBufferSize = o.ringBufferSize
	cfg.QueueSize = o.queueSize

	pc := pipeline.Config{ProcRoot: o.procRoot, Sensor: cfg, ContainerdSocket: o.containerd, Processes: 1 << 17}
	if err := applyCgroupFilter(&pc, o.cgroups, o.excludeCgroups); err != nil {
		return err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := pipeline.New(pc, log, reg)
	if err != nil {
		return err
	}
	defer p.Close()
	log.Info("tracing", zap.String("types", o.types), zap.Int("processes_seeded", p.Processes().Len()))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	started.Store(true)
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}

	var w trace.Writer = trace.NewTableWriter(o.out)
	if o.json {
		w = trace.NewJSONWriter(o.out)
	}
	err = p.Run(ctx, &printer{types: types, enricher: p.Enricher(), w: w})
	if err == nil {
		err = w.Flush()
	}
	if errors.Is(err, syscall.EPIPE) {
		err = nil // the reader of our output went away (| head)
	}
	if st, serr := p.Sensor().Stats(); serr == nil {
		logLoss(log, st)
	}
	return err
}

// printer prints the selected types, flushing whenever no event waits.
type printer struct {
	types    sensor.TypeSet
	enricher *enrich.Enricher
	w        trace.Writer
	rec      enrich.Record // enriched into again and again; its event is the pipeline's, released after each
}

func (pr *printer) Handle(ctx context.Context, ev *sensor.Event) error {
	if !pr.types.Has(ev.Type) {
		return nil
	}
	pr.enricher.Enrich(ctx, ev, &pr.rec)
	err := pr.w.Write(&pr.rec)
	pr.rec.Event = nil
	if err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return nil
}

func (pr *printer) Idle() error {
	if err := pr.w.Flush(); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return nil
}

func applyCgroupFilter(pc *pipeline.Config, include, exclude []string) error {
	if len(include) > 0 && len(exclude) > 0 {
		return errors.New("--cgroup and --exclude-cgroup cannot be combined")
	}
	pc.CgroupPaths = include
	pc.Sensor.CgroupFilter = sensor.FilterInclude
	if len(exclude) > 0 {
		pc.CgroupPaths = exclude
		pc.Sensor.CgroupFilter = sensor.FilterExclude
	}
	if len(pc.CgroupPaths) == 0 {
		pc.Sensor.CgroupFilter = sensor.FilterOff
	}
	return nil
}

func logLoss(log *zap.Logger, st sensor.Stats) {
	fields := []zap.Field{zap.Uint64("decode_errors", st.DecodeErrors), zap.Uint64("paths_truncated", st.PathsTruncated)}
	for _, t := range sensor.AllTypes {
		fields = append(fields, zap.Uint64(t.String()+"_delivered", st.Delivered[t]), zap.Uint64(t.String()+"_lost", st.Lost(t)))
	}
	log.Info("trace finished", fields...)
}
