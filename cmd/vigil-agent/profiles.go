package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/profile"
)

func newProfilesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "Show the drafts this node learned, with their stability",
		Long: `profiles reads the drafts the agent keeps in --state-dir (saved every
--save-interval of the running agent, and when it stops). It changes nothing
there. --state-dir comes from the same places as vigil-agent run's: the flag,
VIGIL_AGENT_STATE_DIR, the --config file.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List drafts: entries, containers seen, time since the last new entry, completeness",
		Args:  cobra.NoArgs,
	}
	listSettings := newAgentSettings(list, "state-dir")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		drafts, err := readDrafts(cmd, listSettings)
		if err != nil {
			return err
		}
		return listDrafts(cmd.OutOrStdout(), drafts, time.Now())
	}
	show := &cobra.Command{
		Use:   "show DIGEST",
		Short: "Print one draft as a profile document (canonical YAML)",
		Args:  cobra.ExactArgs(1),
	}
	showSettings := newAgentSettings(show, "state-dir")
	show.RunE = func(cmd *cobra.Command, args []string) error {
		drafts, err := readDrafts(cmd, showSettings)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(drafts, func(d *profile.Draft) bool { return d.Digest() == args[0] })
		if i < 0 {
			return fmt.Errorf("no draft for %s in %s (profiles list shows the digests)", args[0], showSettings.run.Config.StateDir)
		}
		doc, err := profile.Encode(drafts[i].Profile())
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(doc)
		return err
	}
	cmd.AddCommand(list, show)
	return cmd
}

// readDrafts reads the drafts of the agent's state directory, sorted by
// image; a draft that cannot be read is reported on stderr and skipped.
func readDrafts(cmd *cobra.Command, s *agentSettings) ([]*profile.Draft, error) {
	if err := s.resolve(cmd); err != nil {
		return nil, err
	}
	stateDir := s.run.Config.StateDir
	drafts, err := profile.ReadDrafts(filepath.Join(stateDir, "drafts"), profile.Limits{})
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w\n(no agent has saved drafts in --state-dir %s: give the --state-dir, VIGIL_AGENT_STATE_DIR or --config the agent runs with)", err, stateDir)
	}
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "vigil-agent:", err)
	}
	slices.SortFunc(drafts, func(a, b *profile.Draft) int { return strings.Compare(a.Image()+a.Digest(), b.Image()+b.Digest()) })
	return drafts, nil
}

func listDrafts(w io.Writer, drafts []*profile.Draft, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tENTRIES\tCONTAINERS\tNODES\tLAST NEW ENTRY\tCOMPLETE")
	for _, d := range drafts {
		st := d.Stability(now)
		complete := "yes"
		if st.Incomplete {
			var reasons []string
			for _, r := range d.Profile().Metadata.Learning.Incomplete {
				reasons = append(reasons, fmt.Sprintf("%s (%d)", r.Reason, r.Count))
			}
			complete = "no: " + strings.Join(reasons, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s ago\t%s\n", d.Image(), d.Digest(), st.Entries, st.Containers, st.Nodes,
			st.SinceLastNewEntry.Round(time.Second), complete)
	}
	return tw.Flush()
}
