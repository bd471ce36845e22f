package profile

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Generalisation keeps a learned profile bounded. Two rules apply:
//
//  1. Per component, when a path is first learned: a component that is all
//     decimal digits (/proc/123/status), a long hexadecimal identifier (16 or
//     more hex digits with at least one digit: container ids, hashes), a UUID,
//     or a name holding a '*', '{', '}' or bytes that are not UTF-8 becomes
//     "*" (a profile is a YAML document, which holds only UTF-8 text, and
//     those characters mean something in a pattern); a name with a long run
//     of digits gets its digits written "{n}" (digits.go).
//  2. Per directory, in a path list: once one directory has more than
//     Limits.CollapseThreshold distinct children, every entry below it gets
//     "*" for that component (/tmp/tmp.Xa81k → /tmp/*) and entries that become
//     equal merge (access bits and evidence). Later paths in that directory
//     are then matched by the wider entry and add nothing. The root directory
//     is never collapsed.
//
// Both only ever widen a pattern, so a generalised profile allows a
// superset of what was learned, never less.

// cleanAbs checks an observed path and returns its lexically clean form.
func cleanAbs(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q: %w", p, errRelative)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path %q: %w", p, errNUL)
	}
	return path.Clean(p), nil
}

// generalizePath applies rule 1 to a clean absolute path.
func generalizePath(p string) string {
	comps := components(p)
	changed := false
	for i, c := range comps {
		if volatileComponent(c) {
			comps[i], changed = wildOne, true
		} else if b, ok := appendDigitsForm(nil, c); ok {
			comps[i], changed = string(b), true
		}
	}
	if !changed {
		return p
	}
	return joinComponents(comps)
}

// volatileComponent reports whether a path component names something that
// varies between runs (a pid, an id) rather than something the image ships.
func volatileComponent(c string) bool {
	return strings.ContainsAny(c, "*{}") || !utf8.ValidString(c) || volatileName(c)
}

// volatileName is the kernel's test of a whole name (bpf/lib/match.h).
func volatileName(c string) bool {
	return allDigits(c) || longHex(c) || isUUID(c)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHexDigit(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

func longHex(s string) bool {
	if len(s) < 16 {
		return false
	}
	digit := false
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
		digit = digit || s[i] <= '9'
	}
	return digit
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}

// collapseAt widens the component at depth below dir (given as components)
// to "*", unless it is already a wildcard. It reports whether the pattern
// lies below dir.
func collapseAt(comps, dir []string) bool {
	depth := len(dir)
	if len(comps) <= depth {
		return false
	}
	for i, c := range dir {
		if comps[i] != c {
			return false
		}
	}
	if comps[depth] != wildAny {
		comps[depth] = wildOne
	}
	return true
}
