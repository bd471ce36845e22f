package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/profile"
)

func newProfilesCommand() *cobra.Command {
	stateDir := agent.DefaultConfig().StateDir
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "Show the drafts this node learned, with their stability",
		Long: `profiles reads the drafts the agent keeps in --state-dir (saved every
--save-interval of the running agent, and when it stops).`,
	}
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", stateDir, "the agent's state directory")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List drafts: entries, containers seen, time since the last new entry, completeness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			drafts, err := loadDrafts(stateDir)
			if err != nil {
				return err
			}
			return listDrafts(cmd.OutOrStdout(), drafts, time.Now())
		},
	}, &cobra.Command{
		Use:   "show DIGEST",
		Short: "Print one draft as a profile document (canonical YAML)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			drafts, err := loadDrafts(stateDir)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(drafts, func(d *profile.Draft) bool { return d.Digest() == args[0] })
			if i < 0 {
				return fmt.Errorf("no draft for %s in %s (profiles list shows the digests)", args[0], stateDir)
			}
			doc, err := profile.Encode(drafts[i].Profile())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(doc)
			return err
		},
	})
	return cmd
}

func loadDrafts(stateDir string) ([]*profile.Draft, error) {
	store, err := profile.OpenDraftStore(filepath.Join(stateDir, "drafts"), profile.Limits{}, prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	drafts, err := store.LoadAll()
	slices.SortFunc(drafts, func(a, b *profile.Draft) int { return strings.Compare(a.Image()+a.Digest(), b.Image()+b.Digest()) })
	return drafts, err
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
