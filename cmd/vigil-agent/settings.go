package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/cliflags"
)

// agentSettings gives a command that reads what `run` keeps (its state
// directory, metrics address, pin directory) those settings from the same
// places and in the same order as `run`: the command line, VIGIL_AGENT_<FLAG>,
// the --config file, the defaults. So `profiles list` finds the drafts of an
// agent started with VIGIL_AGENT_STATE_DIR or a config file, with nothing
// repeated.
type agentSettings struct {
	run  *agent.RunFlags
	fs   *pflag.FlagSet
	used []string // the run flags this command has
}

// newAgentSettings registers --config and the named flags of `run` on cmd.
func newAgentSettings(cmd *cobra.Command, names ...string) *agentSettings {
	s := &agentSettings{run: agent.NewRunFlags(""), fs: pflag.NewFlagSet("run", pflag.ContinueOnError), used: names}
	s.run.Register(s.fs)
	own := cmd.Flags()
	for _, name := range append([]string{"config"}, names...) {
		f := s.fs.Lookup(name)
		usage := f.Usage + " (as given to vigil-agent run) [$" + cliflags.EnvName(envPrefix, name) + "]"
		own.AddFlag(&pflag.Flag{Name: f.Name, Usage: usage, Value: f.Value, DefValue: f.DefValue})
	}
	return s
}

// resolve fills the settings not given on the command line as `run` would;
// call it before reading them.
func (s *agentSettings) resolve(cmd *cobra.Command) error {
	for _, name := range append([]string{"config"}, s.used...) {
		if cmd.Flags().Changed(name) {
			s.fs.Lookup(name).Changed = true
		}
	}
	if err := cliflags.BindEnv(s.fs, envPrefix); err != nil {
		return err
	}
	if s.run.ConfigFile != "" {
		if err := cliflags.LoadFile(s.fs, s.run.ConfigFile); err != nil {
			return fmt.Errorf("%w (the file of vigil-agent run)", err)
		}
	}
	return nil
}
