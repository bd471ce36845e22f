package profile

import (
	"errors"
	"strings"
)

// Numbers inside a name. A name holding a run of at least MinDigitRun
// decimal digits is taken to carry a number that changes from run to run —
// a time, a date, a random or a counter (PostgreSQL.1004069810,
// postgresql-2026-12-06_193647.log, notes-1765043807123.tar.gz) — and every
// run of digits in it is written DigitsPart:
//
//	PostgreSQL.{n}   postgresql-{n}-{n}-{n}_{n}.log   notes-{n}.tar.gz
//
// DigitsPart matches one or more decimal digits, nothing else. Names whose
// runs are all shorter (python3.11, libc.so.6, x86_64) are versions and
// stay literal. The form is computed from the name alone, so the kernel
// computes it in its one pass over a path (bpf/lib/match.h) and a profile
// still matches with one lookup per component.

// DigitsPart stands for one run of decimal digits inside a name.
const DigitsPart = "{n}"

// MinDigitRun is the shortest run of digits that makes a name's numbers
// volatile. Four: years, times, random numbers and most counters have at
// least four digits; versions and architectures (3.11, .so.6, x86_64,
// cpython-311) have fewer.
const MinDigitRun = 4

var errBadDigits = errors.New(`"{n}" must stand for a whole run of digits in a name that has one of at least 4 digits; ` +
	`no other "{" or "}" (e.g. log-{n}.txt, not {n}, log-{n}{n}, log-{n}1 or v{n}.1)`)

// CanonicalName is a path component as the kernel's matcher sees it: "*"
// for a name that is volatile as a whole (all digits, a long hex id, a
// UUID), the DigitsPart form for a name with a long run of digits, else the
// name itself. Patterns compile to the hash of their components' canonical
// names.
func CanonicalName(c string) string {
	if c == wildOne || volatileName(c) {
		return wildOne
	}
	if b, ok := appendDigitsForm(nil, c); ok {
		return string(b)
	}
	return c
}

// appendDigitsForm appends c with every run of digits written DigitsPart
// to dst, when c holds a run of at least MinDigitRun digits.
func appendDigitsForm(dst []byte, c string) ([]byte, bool) {
	if !hasLongRun(c) {
		return dst, false
	}
	for i := 0; i < len(c); i++ {
		if !isDigit(c[i]) {
			dst = append(dst, c[i])
			continue
		}
		if i == 0 || !isDigit(c[i-1]) {
			dst = append(dst, DigitsPart...)
		}
	}
	return dst, true
}

func hasLongRun(c string) bool {
	run := 0
	for i := 0; i < len(c); i++ {
		if !isDigit(c[i]) {
			run = 0
			continue
		}
		if run++; run >= MinDigitRun {
			return true
		}
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// hasDigitsPart reports whether a pattern component uses DigitsPart.
func hasDigitsPart(comp string) bool { return strings.Contains(comp, DigitsPart) }

// validateDigitsPart checks a pattern component that holds "{" or "}": it
// must be the canonical form of the names it stands for, so that the
// kernel, which computes that form, matches exactly those names.
func validateDigitsPart(comp string) error {
	example := strings.ReplaceAll(comp, DigitsPart, strings.Repeat("0", MinDigitRun))
	if strings.ContainsAny(example, "{}") || CanonicalName(example) != comp {
		return errBadDigits
	}
	return nil
}

// compMatches reports whether the pattern component pat (a literal or a
// DigitsPart form, not a wildcard) matches the name c.
func compMatches(pat, c string) bool {
	return pat == c || (hasDigitsPart(pat) && CanonicalName(c) == pat)
}
