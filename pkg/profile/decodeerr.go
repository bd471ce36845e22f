package profile

import (
	"fmt"
	"strings"
)

// maxProblems bounds how many problems one document error lists.
const maxProblems = 20

// Problem is one thing wrong in a document, at a line and column (1-based;
// 0 when unknown) and a field path such as spec.files[3].path.
type Problem struct {
	Line   int
	Column int
	Field  string
	Reason string
}

// DocumentError is returned by Decode for a document that is not a valid
// profile: the file name and every problem found (up to a bound).
type DocumentError struct {
	File     string
	Problems []Problem
	// More counts problems left out of Problems.
	More int
}

// Error lists the problems as file:line:column: field: reason, separated
// by "; ".
func (e *DocumentError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		if p.Line > 0 && p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
		b.WriteString(": ")
		if p.Field != "" {
			b.WriteString(p.Field)
			b.WriteString(": ")
		}
		b.WriteString(p.Reason)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "; and %d more problems", e.More)
	}
	return b.String()
}
