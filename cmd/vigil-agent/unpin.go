package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/enforce"
)

func newUnpinCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unpin",
		Short: "Detach the enforcement agents left pinned: for uninstalling, with no agent running",
		Example: `  # On each node, once the DaemonSet is deleted
  vigil-agent unpin
  vigil-agent unpin --pin-dir /sys/fs/bpf/vigil`,
		Args: cobra.NoArgs,
	}
	settings := newAgentSettings(cmd, "pin-dir")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := settings.resolve(cmd); err != nil {
			return err
		}
		dir := settings.run.Config.PinDir
		n, err := enforce.Unpin(dir)
		fmt.Fprintf(cmd.OutOrStdout(), "detached %d pinned enforcement links from %s\n", n, dir)
		return err
	}
	return cmd
}
