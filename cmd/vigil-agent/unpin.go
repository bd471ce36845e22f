package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

func newUnpinCommand() *cobra.Command {
	dir := agent.DefaultConfig().PinDir
	cmd := &cobra.Command{
		Use:   "unpin",
		Short: "Detach the enforcement agents left pinned: for uninstalling, with no agent running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := sensor.Unpin(dir)
			fmt.Fprintf(cmd.OutOrStdout(), "detached %d pinned enforcement links from %s\n", n, dir)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "pin-dir", dir, "the agents' --pin-dir")
	return cmd
}
