// Command vigil-agent is vigil's node agent: it loads the eBPF sensors,
// attributes every exec, open, connect and capability use to its container,
// learns each image's profile and reports what breaks it.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/buildinfo"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/cliout"
)

// envPrefix: every flag of `run` can be set as VIGIL_AGENT_<FLAG>.
const envPrefix = "VIGIL_AGENT"

func main() {
	if err := newRootCommand().Execute(); err != nil {
		// Printed here, not by cobra: an error can name what a container
		// chose (an image, a path), escaped for the terminal.
		fmt.Fprintln(os.Stderr, "Error:", cliout.EscapeLines(err.Error()))
		os.Exit(1)
	}
}

// globalOptions are the flags every subcommand shares.
type globalOptions struct {
	log cliflags.LogFlags
}

// defaultLogFormat is the agent's --log-format unless told otherwise: text
// for a person at a terminal (the DaemonSet's config asks for json).
const defaultLogFormat = "console"

func newRootCommand() *cobra.Command {
	var g globalOptions
	root := &cobra.Command{
		Use:   "vigil-agent",
		Short: "vigil's node agent: eBPF runtime security for Kubernetes nodes",
		Example: `  # The node agent, with its settings in a file
  vigil-agent run --config /etc/vigil/agent.yaml
  # What it learned, and how it enforces
  vigil-agent profiles list --config /etc/vigil/agent.yaml
  vigil-agent status
  # What this node's processes do, live
  vigil-agent trace --types exec,connect`,
		Version:       buildinfo.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.log.Register(root.PersistentFlags(), defaultLogFormat)
	root.AddCommand(newTraceCommand(&g), newRunCommand(&g), newProfilesCommand(), newStatusCommand(), newUnpinCommand())
	return root
}

// logger builds the logger the flags ask for; logs go to stderr so that
// stdout carries only a command's real output.
func (g *globalOptions) logger() (*zap.Logger, error) {
	return g.log.Logger()
}
