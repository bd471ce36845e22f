// Command vigil-collector is vigil's central service: agents stream alerts,
// statuses and draft profiles to it over mTLS gRPC; operators read them with
// vigilctl. Settings come from flags, then the environment
// (VIGIL_COLLECTOR_<FLAG>, e.g. VIGIL_COLLECTOR_STORE), then the --config
// YAML file (keys are flag names), then defaults.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	o := collector.NewFlags()
	cmd := &cobra.Command{
		Use:   "vigil-collector",
		Short: "Receive, store and serve vigil alerts, node statuses and profiles",
		Example: `  # With the certificates vigilctl certs made, and the embedded SQLite store
  vigil-collector --tls-cert ~/.config/vigil/certs/server.pem --tls-key ~/.config/vigil/certs/server-key.pem \
      --client-ca ~/.config/vigil/certs/ca.pem --store sqlite:/var/lib/vigil/collector.db
  # Settings from a file, PostgreSQL from the environment
  VIGIL_COLLECTOR_STORE=postgres://vigil@db.internal/vigil vigil-collector --config /etc/vigil/collector.yaml`,
		Version:      buildinfo.Version,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := cliflags.BindEnv(cmd.Flags(), envPrefix); err != nil {
				return err
			}
			if o.ConfigFile != "" {
				if err := cliflags.LoadFile(cmd.Flags(), o.ConfigFile); err != nil {
					return err
				}
			}
			if err := o.Config.Validate(); err != nil {
				return fmt.Errorf("collector settings: %w", err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := o.Log.Logger()
			if err != nil {
				return err
			}
			defer log.Sync()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := collector.Run(ctx, o.Config, log, o.Log.Sampled()); err != nil {
				return fmt.Errorf("collector: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	o.Register(f)
	cliflags.AnnotateEnv(f, envPrefix)
	return cmd
}
