// Command vigil-collector is vigil's central service: agents stream alerts,
// statuses and draft profiles to it over mTLS gRPC; operators read them with
// vigilctl. Every flag can also be set through the environment
// (VIGIL_COLLECTOR_<FLAG>, e.g. VIGIL_COLLECTOR_STORE).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/buildinfo"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/collector"
)

const envPrefix = "VIGIL_COLLECTOR"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var cfg collector.Config
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:           "vigil-collector",
		Short:         "Receive, store and serve vigil alerts, node statuses and profiles",
		Version:       buildinfo.Version,
		SilenceUsage:  true,
		SilenceErrors: false,
		Args:          cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return cliflags.BindEnv(cmd.Flags(), envPrefix)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := cliflags.NewLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			defer log.Sync()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := collector.Run(ctx, cfg, log); err != nil {
				return fmt.Errorf("collector: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", ":7443", "gRPC (mTLS) listen address for agents and consumers")
	f.StringVar(&cfg.HTTPListen, "http-listen", ":7080", "plain HTTP listen address for /metrics, /healthz and /readyz")
	f.StringVar(&cfg.TLSCert, "tls-cert", "/etc/vigil/certs/server.pem", "server certificate (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "/etc/vigil/certs/server-key.pem", "server private key (PEM)")
	f.StringVar(&cfg.ClientCA, "client-ca", "/etc/vigil/certs/ca.pem", "CA that signs agent and consumer certificates (PEM)")
	f.StringVar(&cfg.Store, "store", "sqlite:/var/lib/vigil/collector.db", "store: sqlite:PATH (embedded) or postgres://user@host/db")
	f.DurationVar(&cfg.Retention.MaxAge, "retention-age", 30*24*time.Hour, "delete alerts received longer ago than this (0: keep)")
	f.Int64Var(&cfg.Retention.MaxBytes, "retention-bytes", 1<<30, "keep at most this many bytes of alerts, deleting the oldest (0: no cap)")
	f.DurationVar(&cfg.PruneEvery, "prune-every", time.Minute, "how often retention runs")
	f.StringVar(&cfg.JSONLinesFile, "jsonl-file", "", "append every alert to this file as JSON lines")
	f.StringVar(&cfg.WebhookURL, "webhook-url", "", "POST every alert as Falco output JSON to this URL (e.g. Falcosidekick)")
	f.IntVar(&cfg.SinkQueue, "sink-queue", 1024, "alerts each sink may have waiting before it drops")
	f.IntVar(&cfg.SubscriberQueue, "subscriber-queue", 1024, "alerts each live subscriber may have waiting before it drops")
	f.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", 4<<20, "largest gRPC message accepted")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long shutdown waits for in-flight calls")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "json", "json or console")
	cliflags.AnnotateEnv(f, envPrefix)
	return cmd
}
