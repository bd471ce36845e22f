package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
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
	f.StringVar(&o.types, "types", "exec,open,connect,capability", "event types to trace: exec, open, connect, capability, fork, exit")
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
	if o.metricsAddr != "" {
		srv, err := listenTelemetry(o.metricsAddr, reg, nil, log, "leave --metrics-addr out to serve none")
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
	cfg.ProcRoot = o.procRoot

	var cgroupRoot string
	cgroups, err := cgroup.Open("", o.procRoot)
	if err != nil {
		log.Warn("no cgroup2 mount: cgroup filters and seeded cgroup ids unavailable", zap.Error(err))
	} else {
		defer cgroups.Close()
		cgroupRoot = cgroups.Mountpoint()
	}
	if err := applyCgroupFilter(&cfg, cgroups, o.cgroups, o.excludeCgroups); err != nil {
		return err
	}

	hostNS, err := procfs.HostMountNamespace(o.procRoot)
	if err != nil {
		return fmt.Errorf("host mount namespace (trace needs the host's pid namespace): %w", err)
	}
	cfg.HostMntNS = hostNS
	s, err := sensor.New(cfg, log)
	if err != nil {
		return fmt.Errorf("start sensor: %w", err)
	}
	defer s.Close()
	table := process.NewTable(1<<17, 5*time.Second, hostNS)
	if err := table.Seed(o.procRoot, cgroupRoot); err != nil { // after attaching: no process falls between
		log.Warn("seed process table", zap.Error(err))
	}
	log.Info("tracing", zap.String("types", o.types), zap.Int("processes_seeded", table.Len()))

	reg.MustRegister(s.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var attributor enrich.Attributor
	if o.containerd != "" {
		resolver, err := containers.New(containers.Config{
			Socket: o.containerd, Logger: log, Registerer: reg, ProcRoot: o.procRoot,
		})
		if err != nil {
			return fmt.Errorf("start container attribution: %w", err)
		}
		resolverDone := make(chan struct{})
		go func() {
			defer close(resolverDone)
			_ = resolver.Run(ctx) // returns only when ctx ends
		}()
		defer func() {
			cancel()
			<-resolverDone
			resolver.Close()
		}()
		attributor = resolver
	} else {
		log.Info("no containerd socket given: every event is attributed to the host")
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}

	var w trace.Writer = trace.NewTableWriter(o.out)
	if o.json {
		w = trace.NewJSONWriter(o.out)
	}
	err = printEvents(ctx, s.Events(), types, enrich.NewEnricher(table, attributor), w)
	if errors.Is(err, syscall.EPIPE) {
		err = nil // the reader of our output went away (| head)
	}
	if st, serr := s.Stats(); serr == nil {
		logLoss(log, st)
	}
	return err
}

// printEvents feeds the process table and prints the selected types until
// ctx ends, flushing whenever no event is waiting.
func printEvents(ctx context.Context, events <-chan sensor.Event, types sensor.TypeSet, enricher *enrich.Enricher, w trace.Writer) error {
	var ev sensor.Event // received into again and again, as in the agent's pipeline
	var rec enrich.Record
	var ok bool
	for {
		select {
		case <-ctx.Done():
			return w.Flush()
		case ev, ok = <-events:
			if !ok {
				return w.Flush()
			}
			enricher.Observe(&ev)
			if !types.Has(ev.Type) {
				continue
			}
			enricher.Enrich(ctx, &ev, &rec)
			if err := w.Write(&rec); err != nil {
				return fmt.Errorf("write event: %w", err)
			}
			if len(events) == 0 {
				if err := w.Flush(); err != nil {
					return fmt.Errorf("write event: %w", err)
				}
			}
		}
	}
}

func applyCgroupFilter(cfg *sensor.Config, cgroups *cgroup.FS, include, exclude []string) error {
	if len(include) > 0 && len(exclude) > 0 {
		return errors.New("--cgroup and --exclude-cgroup cannot be combined")
	}
	paths := include
	cfg.CgroupFilter = sensor.FilterInclude
	if len(exclude) > 0 {
		paths = exclude
		cfg.CgroupFilter = sensor.FilterExclude
	}
	if len(paths) == 0 {
		cfg.CgroupFilter = sensor.FilterOff
		return nil
	}
	if cgroups == nil {
		return errors.New("cgroup filters need a cgroup2 mount")
	}
	for _, p := range paths {
		id, err := cgroups.ID(p)
		if err != nil {
			return fmt.Errorf("cgroup filter %q: %w", p, err)
		}
		cfg.Cgroups = append(cfg.Cgroups, id)
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
