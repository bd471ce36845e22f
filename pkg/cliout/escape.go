package cliout

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Escape makes s safe to write to a terminal. Names in vigil's output come
// from containers (paths, argv, comm, image names) and a terminal obeys the
// control characters in them (ESC starts a sequence that can clear lines,
// move the cursor or set the clipboard), so everything that is not
// printable text is written as a Go string literal writes it: C0 controls
// (\x1b, \a, \x00, \r, \n, \t), DEL (\x7f), C1 controls (\u009b), other
// characters that print nothing (\u202e, a bidirectional override) and
// bytes that are not UTF-8 (\xff). Printable UTF-8 is kept as it is.
// Every human-readable output goes through it; JSON and YAML are escaped by
// their encoders instead, losslessly.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !printable(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case printable(r, size):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// EscapeLines is Escape for text of several lines (a document, an error
// with its hint): each line is escaped, the newlines between them kept.
func EscapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}

// printable tells a rune that prints as itself; a byte that is not UTF-8
// decodes as RuneError of size 1 and does not.
func printable(r rune, size int) bool {
	return strconv.IsPrint(r) && (r != utf8.RuneError || size > 1)
}
