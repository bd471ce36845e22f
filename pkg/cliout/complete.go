package cliout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// Matching is the candidates that start with toComplete, sorted and without
// repeats or empty ones: shell completion's answer. Candidates are escaped
// (Escape): the shell lists them on the terminal.
func Matching(candidates []string, toComplete string) []string {
	var out []string
	for _, c := range candidates {
		c = Escape(c)
		if c != "" && strings.HasPrefix(c, toComplete) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// ListMatching completes the last item of a comma-separated list flag
// ("--node a,b"): the items before it are kept, and offered again no more.
func ListMatching(candidates []string, toComplete string) []string {
	i := strings.LastIndex(toComplete, ",")
	given := strings.Split(toComplete[:max(i, 0)], ",")
	var rest []string
	for _, c := range candidates {
		if !slices.Contains(given, c) {
			rest = append(rest, c)
		}
	}
	out := Matching(rest, toComplete[i+1:])
	for j := range out {
		out[j] = toComplete[:i+1] + out[j]
	}
	return out
}

// ImageCompletions offers what names a profiled image (see profile.Resolve):
// its digest, described by its image, and its image name as people write it,
// described by its digest, when that name stands for one digest only. A bare
// hex prefix is completed to the bare hex of digests. Candidates and
// descriptions are escaped (Escape).
func ImageCompletions(known []profile.ImageRef, toComplete string) []string {
	var out []string
	for _, r := range known {
		digest := r.Digest
		if !strings.Contains(toComplete, ":") && isHex(toComplete) {
			_, digest, _ = strings.Cut(digest, ":")
		}
		if strings.HasPrefix(Escape(digest), toComplete) {
			out = append(out, Escape(digest)+"\t"+Escape(profile.FamiliarName(r.Image)))
		}
		name := profile.FamiliarName(r.Image)
		if r.Image == "" || !strings.HasPrefix(Escape(name), toComplete) {
			continue
		}
		if d, err := profile.Resolve(name, known); err == nil && d == r.Digest {
			out = append(out, fmt.Sprintf("%s\t%.19s…", Escape(name), Escape(r.Digest)))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isHex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdef") == ""
}

// CompleteFlags registers shell completion for cmd's flags. The flags are
// cmd's own, registered just before: a name that is not is a programming
// error, and panics when the command is built (every test builds it).
func CompleteFlags(cmd *cobra.Command, funcs map[string]cobra.CompletionFunc) {
	for flag, complete := range funcs {
		if err := cmd.RegisterFlagCompletionFunc(flag, complete); err != nil {
			panic(fmt.Sprintf("complete --%s of %s: %v", flag, cmd.CommandPath(), err))
		}
	}
}

// Fixed completes a flag or argument from a list of values.
func Fixed(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return ListMatching(values, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}
