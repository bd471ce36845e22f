package testutil

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// CheckExamples checks the Example section of every command under root: each
// command has one, it shows the command (or, for a group, its subcommands)
// at least once, and every
// line that runs the program names a real command with flags and arguments
// that command accepts. Lines are read as a shell would, roughly: comments
// (#) dropped, "\" continues a line, quotes group words, a pipe or
// redirection ends the command, VAR=value prefixes skipped.
func CheckExamples(t *testing.T, root *cobra.Command) {
	t.Helper()
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Hidden || cmd.Name() == "help" {
			return
		}
		if cmd.Example == "" {
			t.Errorf("%s has no Example", cmd.CommandPath())
		}
		shown := false
		for _, line := range exampleCommands(cmd.Example) {
			if len(line) == 0 || line[0] != root.Name() {
				continue
			}
			target, err := checkExample(root, line[1:])
			if err != nil {
				t.Errorf("%s example %q: %v", cmd.CommandPath(), strings.Join(line, " "), err)
			}
			shown = shown || within(target, cmd)
		}
		if cmd.Example != "" && !shown {
			t.Errorf("%s: no example runs it", cmd.CommandPath())
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}

// within tells whether c is cmd or one of its subcommands: a group's
// examples show its subcommands.
func within(c, cmd *cobra.Command) bool {
	for ; c != nil; c = c.Parent() {
		if c == cmd {
			return true
		}
	}
	return false
}

// checkExample parses args as root would, without running anything.
func checkExample(root *cobra.Command, args []string) (*cobra.Command, error) {
	target, rest, err := root.Find(args) // rest: args without the command names
	if err != nil {
		return nil, err
	}
	if err := target.ParseFlags(rest); err != nil {
		return target, err
	}
	positional := target.Flags().Args()
	if !target.Runnable() {
		if len(positional) > 0 {
			return target, fmt.Errorf("unknown command %q for %q", positional[0], target.CommandPath())
		}
		return target, nil
	}
	return target, target.ValidateArgs(positional)
}

// exampleCommands splits an Example section into the words of each command.
func exampleCommands(example string) [][]string {
	var out [][]string
	var pending string
	for _, raw := range strings.Split(example, "\n") {
		line := strings.TrimSpace(raw)
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			pending += cont + " "
			continue
		}
		line, pending = pending+line, ""
		words := shellWords(line)
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			words = words[1:]
		}
		out = append(out, words)
	}
	return out
}

// shellWords splits a line into words, honouring quotes, up to a comment,
// pipe or redirection.
func shellWords(line string) []string {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case !inWord && strings.ContainsRune("#|><;&", r):
			return words
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}
