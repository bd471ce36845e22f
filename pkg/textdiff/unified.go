// Package textdiff writes the differences between two texts as a unified
// diff, line by line, the form diff -u prints and patch applies.
package textdiff

import (
	"bytes"
	"fmt"
	"strings"
)

// contextLines is how many unchanged lines surround each hunk.
const contextLines = 3

// maxEditDistance bounds the work of the line diff: beyond it the changed
// middle is shown as one replacement hunk. The output is still a correct
// diff, only not a minimal one.
const maxEditDistance = 1000

// Unified returns a unified diff (as diff -u prints it) from a to b,
// labelled with the two names, or "" when they are equal.
func Unified(aName, bName string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops := diffLines(al, bl)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
	for start := 0; start < len(ops); {
		// Find the next change, then extend the hunk while changes are
		// closer than two contexts apart.
		first := start
		for first < len(ops) && ops[first].kind == ' ' {
			first++
		}
		if first == len(ops) {
			break
		}
		lo := max(first-contextLines, start)
		hi, gap := first, 0
		for i := first; i < len(ops) && gap <= 2*contextLines; i++ {
			if ops[i].kind == ' ' {
				gap++
			} else {
				hi, gap = i, 0
			}
		}
		end := min(hi+1+contextLines, len(ops))
		writeHunk(&out, ops[lo:end])
		start = end
	}
	return out.String()
}

type lineOp struct {
	kind         byte // ' ', '-', '+'
	text         string
	aLine, bLine int // 1-based line numbers before the op on each side
}

func writeHunk(out *strings.Builder, ops []lineOp) {
	var na, nb int
	for _, o := range ops {
		if o.kind != '+' {
			na++
		}
		if o.kind != '-' {
			nb++
		}
	}
	as, bs := ops[0].aLine, ops[0].bLine
	if na == 0 {
		as--
	}
	if nb == 0 {
		bs--
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(as, na), hunkRange(bs, nb))
	for _, o := range ops {
		out.WriteByte(o.kind)
		out.WriteString(o.text)
		if !strings.HasSuffix(o.text, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

func hunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
