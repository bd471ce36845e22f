// Command vigil-agent is vigil's node agent: it loads the eBPF sensors,
// attributes every exec, open, connect and capability use to its container,
// learns each image's profile and reports what breaks it.
package main

import (
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/buildinfo"
	"github.com/vigil-dev/vigil/pkg/cliflags"
)

// envPrefix: every flag of `run` can be set as VIGIL_AGENT_<FLAG>.
const envPrefix = "VIGIL_AGENT"

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

// globalOptions are the flags every subcommand shares.
type globalOptions struct {
	logLevel  string
	logFormat string
}

func newRootCommand() *cobra.Command {
	var g globalOptions
	root := &cobra.Command{
		Use:          "vigil-agent",
		Short:        "vigil's node agent: eBPF runtime security for Kubernetes nodes",
		Version:      buildinfo.Version,
		SilenceUsage: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "console", "log format on stderr: console or json")
	root.AddCommand(newTraceCommand(&g), newRunCommand(&g), newProfilesCommand(), newStatusCommand(), newUnpinCommand())
	return root
}

// logger builds the logger the flags ask for; logs go to stderr so that
// stdout carries only a command's real output.
func (g *globalOptions) logger() (*zap.Logger, error) {
	return cliflags.NewLogger(g.logLevel, g.logFormat)
}
