package testutil

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Completions runs cobra's __complete command of root with args in-process,
// as a shell does on TAB (the last argument is the word being completed),
// and returns the candidates without their descriptions.
func Completions(tb testing.TB, root *cobra.Command, args ...string) []string {
	tb.Helper()
	var out, errOut bytes.Buffer
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.Execute(); err != nil {
		tb.Fatalf("__complete %q: %v\n%s", args, err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		tb.Fatalf("__complete %q: no directive line:\n%s", args, out.String())
	}
	var got []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		got = append(got, v)
	}
	return got
}
