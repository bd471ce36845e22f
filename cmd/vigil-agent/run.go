package main

import (
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/cliout"
)

func newRunCommand(g *globalOptions) *cobra.Command {
	host, _ := os.Hostname() // "" fails validation, naming --node-name
	o := agent.NewRunFlags(host)
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
		Example: `  # Learn every image; alerts to the log and /var/log/vigil/alerts.jsonl
  vigil-agent run
  # Monitor every image but the dev namespace's, with profiles from a directory
  vigil-agent run --default-mode monitor --namespace-mode dev=learn --profiles-dir /etc/vigil/profiles
  # Stream to a collector with this node's certificate
  vigil-agent run --collector collector.vigil.svc:7443 --collector-ca /etc/vigil/tls/ca.pem \
      --collector-cert /etc/vigil/tls/node-1.pem --collector-key /etc/vigil/tls/node-1-key.pem
  # Every setting from a file, one overridden from the environment
  VIGIL_AGENT_LOG_LEVEL=debug vigil-agent run --config /etc/vigil/agent.yaml`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := cliflags.BindEnv(cmd.Flags(), envPrefix); err != nil {
				return err
			}
			if o.ConfigFile != "" {
				return cliflags.LoadFile(cmd.Flags(), o.ConfigFile)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck // stderr sync fails on some terminals
			cfg, err := o.AgentConfig()
			if err != nil {
				return err
			}
			goLimit, err := o.GoMemoryLimit()
			if err != nil {
				return err
			}
			if goLimit > 0 {
				debug.SetMemoryLimit(goLimit)
				log.Info("go memory limit", zap.Int64("bytes", goLimit), zap.Int64("pod_limit_bytes", o.MemoryLimit))
			}
			return runAgent(cmd, cfg, o.MetricsAddr, log, g.log.Sampled())
		},
	}
	f := cmd.Flags()
	o.Register(f)
	cliflags.AnnotateEnv(f, envPrefix)
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{"default-mode": cliout.Fixed("learn", "monitor", "enforce")})
	return cmd
}

func runAgent(cmd *cobra.Command, cfg agent.Config, metricsAddr string, log *zap.Logger, sampled prometheus.Collector) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), sampled)
	var started atomic.Bool
	if metricsAddr != "" {
		srv, err := listenTelemetry(metricsAddr, reg, attached(&started), log, "is an agent running already? stop it, or give --metrics-addr another address")
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	a, err := agent.New(cfg, log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started.Store(true)
	return a.Run(ctx)
}
