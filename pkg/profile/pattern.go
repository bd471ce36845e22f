package profile

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Path patterns. A pattern is an absolute path whose components are either
// literal names, names with runs of digits written {n}, or one of two
// wildcards, each a whole component:
//
//	*   exactly one component of any name   /proc/*/status
//	**  one or more components; last only   /usr/lib/python3.12/**
//	{n} one run of decimal digits in a name /dev/shm/PostgreSQL.{n}
//
// {n} is allowed only where the name it stands for has its digits written
// that way by the learner (digits.go): a run of at least four digits. There
// are no character classes, no partial-component globs (tmp.*) and no
// escapes: that keeps matching a walk over a trie with one map lookup per
// component. A path matches a pattern when every component matches; "/" is
// matched only by the pattern "/".

const (
	wildOne = "*"
	wildAny = "**"
)

var (
	errRelative    = errors.New("must be an absolute path (start with /)")
	errEmptyComp   = errors.New("must not contain an empty component (//) or end with /")
	errDotComp     = errors.New(`must not contain "." or ".." components`)
	errNUL         = errors.New("must not contain a NUL byte")
	errNotUTF8     = errors.New("must be valid UTF-8")
	errAnyNotLast  = errors.New(`"**" is allowed only as the last component`)
	errPartialStar = errors.New(`"*" must be a whole path component (e.g. /tmp/*, not /tmp/tmp.*)`)
)

// ValidatePattern checks that s is a well-formed absolute path pattern.
func ValidatePattern(s string) error {
	if !strings.HasPrefix(s, "/") {
		return errRelative
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errNUL
	}
	if !utf8.ValidString(s) {
		return errNotUTF8
	}
	if s == "/" {
		return nil
	}
	comps := components(s)
	for i, comp := range comps {
		switch {
		case comp == "":
			return errEmptyComp
		case comp == "." || comp == "..":
			return errDotComp
		case comp == wildAny:
			if i != len(comps)-1 {
				return errAnyNotLast
			}
		case comp != wildOne && strings.IndexByte(comp, '*') >= 0:
			return errPartialStar
		case strings.ContainsAny(comp, "{}"):
			if err := validateDigitsPart(comp); err != nil {
				return err
			}
		}
	}
	return nil
}

// components splits a validated pattern or clean absolute path into its
// components; "/" has none.
func components(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// joinComponents is the inverse of components.
func joinComponents(c []string) string {
	return "/" + strings.Join(c, "/")
}

// MatchPattern reports whether the clean absolute path p matches pattern.
// It is the reference semantics; hot paths use a compiled index instead.
func MatchPattern(pattern, p string) bool {
	return matchComps(components(pattern), components(p))
}

func matchComps(pat, p []string) bool {
	for i, c := range pat {
		if c == wildAny {
			return len(p) > i
		}
		if i >= len(p) || (c != wildOne && !compMatches(c, p[i])) {
			return false
		}
	}
	return len(pat) == len(p)
}

// subsumesComps reports whether every path matched by pattern pb is also
// matched by pattern pa (pa is at least as general as pb); both are given as
// components.
func subsumesComps(pa, pb []string) bool {
	for i, c := range pa {
		if c == wildAny {
			return len(pb) > i
		}
		if i >= len(pb) || pb[i] == wildAny {
			return false
		}
		if c != wildOne && (pb[i] == wildOne || !compMatches(c, pb[i])) {
			return false
		}
	}
	return len(pa) == len(pb)
}
