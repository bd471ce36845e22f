package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/draftstore"
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
		Example: `  vigil-agent profiles list
  vigil-agent profiles show nginx:1.27`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List drafts: entries, containers seen, time since the last new entry, completeness",
		Example: `  # The drafts of the agent run with this config file
  vigil-agent profiles list --config /etc/vigil/agent.yaml
  # As JSON lines, for a script
  vigil-agent profiles list --state-dir /var/lib/vigil -o json`,
		Args: cobra.NoArgs,
	}
	listSettings := newAgentSettings(list, "state-dir")
	output := newOutputFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		format, err := output.format()
		if err != nil {
			return err
		}
		drafts, err := readDrafts(cmd, listSettings, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		reports := draftReports(drafts, time.Now())
		if format == "" {
			return listDrafts(cmd.OutOrStdout(), reports)
		}
		p := cliout.NewPrinter(cmd.OutOrStdout(), format)
		for _, r := range reports {
			if err := p.Print(r); err != nil {
				return err
			}
		}
		return nil
	}
	show := &cobra.Command{
		Use:   "show DIGEST|IMAGE|PREFIX",
		Short: "Print one draft as a profile document (canonical YAML)",
		Long: `show prints the draft of one image: named by its digest, a unique prefix of
the digest of 6 hex digits or more (with or without sha256:), or its image
name (nginx:1.27).`,
		Example: `  # By image name, digest prefix (with or without sha256:) or digest
  vigil-agent profiles show nginx:1.27
  vigil-agent profiles show 4f2a9c
  vigil-agent profiles show sha256:4f2a9c --state-dir /var/lib/vigil`,
		Args: cobra.ExactArgs(1),
	}
	showSettings := newAgentSettings(show, "state-dir")
	show.RunE = func(cmd *cobra.Command, args []string) error {
		drafts, err := readDrafts(cmd, showSettings, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		digest, err := profile.Resolve(args[0], draftRefs(drafts))
		if err != nil {
			return fmt.Errorf("%w (drafts in %s; profiles list shows them)", err, showSettings.run.Config.StateDir)
		}
		i := slices.IndexFunc(drafts, func(d *profile.Draft) bool { return d.Digest() == digest })
		doc, err := profile.Encode(drafts[i].Profile())
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(doc)
		return err
	}
	show.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		drafts, err := readDrafts(cmd, showSettings, io.Discard)
		if err != nil {
			cobra.CompDebugln(err.Error(), false)
		}
		return cliout.ImageCompletions(draftRefs(drafts), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	cmd.AddCommand(list, show)
	return cmd
}

// readDrafts reads the drafts of the agent's state directory, sorted by
// image. A directory it cannot read is an error saying what to do; a draft
// file it cannot read is reported to warn and skipped.
func readDrafts(cmd *cobra.Command, s *agentSettings, warn io.Writer) ([]*profile.Draft, error) {
	if err := s.resolve(cmd); err != nil {
		return nil, err
	}
	stateDir := s.run.Config.StateDir
	drafts, skipped, err := draftstore.Read(filepath.Join(stateDir, "drafts"), profile.Limits{})
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w\n(no agent has saved drafts in --state-dir %s: give the --state-dir, VIGIL_AGENT_STATE_DIR or --config the agent runs with)", err, stateDir)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("%w\n(only the user the agent runs as, root, may read its state: run this as root, or give a --state-dir you may read)", err)
	case err != nil:
		return nil, err
	}
	for _, err := range skipped {
		fmt.Fprintln(warn, "vigil-agent: skipped a draft:", cliout.EscapeLines(err.Error()))
	}
	slices.SortFunc(drafts, func(a, b *profile.Draft) int { return strings.Compare(a.Image()+a.Digest(), b.Image()+b.Digest()) })
	return drafts, nil
}

func draftRefs(drafts []*profile.Draft) []profile.ImageRef {
	refs := make([]profile.ImageRef, len(drafts))
	for i, d := range drafts {
		refs[i] = profile.ImageRef{Image: d.Image(), Digest: d.Digest()}
	}
	return refs
}

// draftReport is one line of profiles list; its JSON and YAML forms are
// stable.
type draftReport struct {
	Image        string       `json:"image"`
	Digest       string       `json:"digest"`
	Entries      int          `json:"entries"`
	Containers   int          `json:"containers"`
	Nodes        int          `json:"nodes"`
	LastNewEntry time.Time    `json:"last_new_entry"`
	Complete     bool         `json:"complete"`
	Incomplete   []incomplete `json:"incomplete,omitempty"`
	since        time.Duration
}

// incomplete is why a draft may lack behaviour, and how many events.
type incomplete struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

func draftReports(drafts []*profile.Draft, now time.Time) []draftReport {
	out := make([]draftReport, len(drafts))
	for i, d := range drafts {
		st := d.Stability(now)
		r := draftReport{Image: d.Image(), Digest: d.Digest(), Entries: st.Entries, Containers: st.Containers, Nodes: st.Nodes,
			LastNewEntry: st.LastNewEntry.UTC(), Complete: !st.Incomplete, since: st.SinceLastNewEntry}
		for _, reason := range d.Profile().Metadata.Learning.Incomplete {
			r.Incomplete = append(r.Incomplete, incomplete{reason.Reason, reason.Count})
		}
		out[i] = r
	}
	return out
}

func listDrafts(w io.Writer, reports []draftReport) error {
	var t cliout.Table
	t.Row("IMAGE", "DIGEST", "ENTRIES", "CONTAINERS", "NODES", "LAST NEW ENTRY", "COMPLETE")
	for _, r := range reports {
		complete := "yes"
		if !r.Complete {
			var reasons []string
			for _, i := range r.Incomplete {
				reasons = append(reasons, fmt.Sprintf("%s (%d)", i.Reason, i.Count))
			}
			complete = "no: " + strings.Join(reasons, "; ")
		}
		t.Row(r.Image, r.Digest, strconv.Itoa(r.Entries), strconv.Itoa(r.Containers), strconv.Itoa(r.Nodes),
			r.since.Round(time.Second).String()+" ago", complete)
	}
	return t.Write(w, nil)
}
