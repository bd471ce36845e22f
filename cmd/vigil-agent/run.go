package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/telemetry"
)

type runOptions struct {
	cfg            agent.Config
	configFile     string
	metricsAddr    string
	defaultMode    string
	namespaceModes map[string]string
	imageModes     map[string]string
}

func newRunCommand(g *globalOptions) *cobra.Command {
	o := runOptions{cfg: agent.DefaultConfig()}
	if host, err := os.Hostname(); err == nil {
		o.cfg.Node = host
	}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node agent: learn each image's profile, alert on what breaks it",
		Long: `run is the DaemonSet's job. Containers of images in learn mode add what they
do to their image's draft profile (kept in --state-dir); containers of images
in monitor mode are checked against the image's profile (from --profiles-dir
or the collector) and every exec, open, connect or capability outside it is an
alert, written to the log, to --alerts-file and to the collector.

Settings come from flags, then VIGIL_AGENT_<FLAG> environment variables, then
the --config YAML file (keys are flag names), then defaults.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := cliflags.BindEnv(cmd.Flags(), envPrefix); err != nil {
				return err
			}
			if o.configFile != "" {
				return cliflags.LoadFile(cmd.Flags(), o.configFile)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck // stderr sync fails on some terminals
			if err := o.resolveModes(); err != nil {
				return err
			}
			return runAgent(cmd, o, log)
		},
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&o.configFile, "config", "", "YAML file of settings, keys named as these flags")
	f.StringVar(&c.Node, "node-name", c.Node, "this node's name in alerts (the Kubernetes node name)")
	f.StringVar(&c.StateDir, "state-dir", c.StateDir, "where learned drafts and the alert spool survive restarts")
	f.StringVar(&c.ProcRoot, "proc", c.ProcRoot, "the host's procfs")
	f.StringVar(&c.ContainerdSocket, "containerd-socket", c.ContainerdSocket, `containerd's socket ("" for host-only attribution)`)
	f.StringVar(&c.ProfilesDir, "profiles-dir", "", "directory of profile YAML files, followed for changes (a ConfigMap, a GitOps checkout)")
	f.StringVar(&o.defaultMode, "default-mode", string(profile.ModeLearn), "mode of images no other setting names: learn, monitor or enforce")
	f.StringToStringVar(&o.namespaceModes, "namespace-mode", nil, "mode per Kubernetes namespace, e.g. shop=monitor (repeatable)")
	f.StringToStringVar(&o.imageModes, "image-mode", nil, "mode per image name or digest, e.g. nginx:1.27=learn (repeatable)")
	f.StringVar(&c.AlertsFile, "alerts-file", c.AlertsFile, `append every alert to this file as JSON lines ("" disables)`)
	f.DurationVar(&c.DedupWindow, "dedup-window", c.DedupWindow, "repeats of one behaviour within this window become one summary alert with a count")
	f.DurationVar(&c.SaveInterval, "save-interval", c.SaveInterval, "how often changed drafts are saved to --state-dir")
	f.StringVar(&c.Collector.Address, "collector", "", `collector address host:port ("" runs without one)`)
	f.StringVar(&c.Collector.Cert, "collector-cert", "", "this node's client certificate (PEM) for the collector")
	f.StringVar(&c.Collector.Key, "collector-key", "", "its private key (PEM)")
	f.StringVar(&c.Collector.CA, "collector-ca", "", "the CA the collector's certificate chains to (PEM)")
	f.StringVar(&c.Collector.ServerName, "collector-server-name", "", "name expected in the collector's certificate (default: the address's host)")
	f.DurationVar(&c.Collector.StatusInterval, "status-interval", c.Collector.StatusInterval, "how often status and drafts go to the collector")
	f.StringVar(&c.PinDir, "pin-dir", c.PinDir, `bpffs directory that keeps enforcement attached while the agent restarts ("" ends it with the agent)`)
	f.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9700", `serve /metrics, /healthz and /readyz here ("" disables)`)
	f.IntVar(&c.Sensor.RingBufferSize, "ring-buffer-size", c.Sensor.RingBufferSize, "kernel ring buffer bytes (rounded up to a power of two)")
	f.IntVar(&c.Sensor.QueueSize, "queue-size", c.Sensor.QueueSize, "decoded events buffered for the pipeline before drops (counted)")
	cliflags.AnnotateEnv(f, envPrefix)
	return cmd
}

// resolveModes turns the mode flags into the policy, naming a bad one.
func (o *runOptions) resolveModes() error {
	def, err := profile.ParseMode(o.defaultMode)
	if err != nil {
		return fmt.Errorf("--default-mode: %w", err)
	}
	o.cfg.Modes = profile.ModePolicy{Default: def, Namespaces: map[string]profile.Mode{}, Images: map[string]profile.Mode{}}
	for flag, from := range map[string]map[string]string{"--namespace-mode": o.namespaceModes, "--image-mode": o.imageModes} {
		to := o.cfg.Modes.Namespaces
		if flag == "--image-mode" {
			to = o.cfg.Modes.Images
		}
		for k, v := range from {
			m, err := profile.ParseMode(v)
			if err != nil {
				return fmt.Errorf("%s %s: %w", flag, k, err)
			}
			to[k] = m
		}
	}
	return nil
}

func runAgent(cmd *cobra.Command, o runOptions, log *zap.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var started atomic.Bool
	if o.metricsAddr != "" {
		ready := func(context.Context) error {
			if !started.Load() {
				return errors.New("starting: programs not attached yet")
			}
			return nil
		}
		srv, err := telemetry.Listen(o.metricsAddr, reg, nil, ready, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	a, err := agent.New(o.cfg, log, reg)
	if err != nil {
		return err
	}
	started.Store(true)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return a.Run(ctx)
}
