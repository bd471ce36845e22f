package main

import (
	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/cliout"
)

// humanFormat is the name of vigil-agent's readable -o format.
const humanFormat = "table"

// outputFlag adds -o table|json|yaml to cmd; format reads it.
type outputFlag struct{ value string }

func newOutputFlag(cmd *cobra.Command) *outputFlag {
	o := &outputFlag{value: humanFormat}
	cmd.Flags().StringVarP(&o.value, "output", "o", o.value, "output format: table, json (one object per line) or yaml")
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{"output": cliout.Fixed(humanFormat, string(cliout.JSON), string(cliout.YAML))})
	return o
}

// format is the format asked for; "" is the table.
func (o *outputFlag) format() (cliout.Format, error) {
	return cliout.ParseFormat(o.value, humanFormat)
}
