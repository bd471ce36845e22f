package enforce

import (
	"strings"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// Star prefixes: how the kernel matches a "*" before a pattern's last
// component. Its canonical hash writes only volatile names "*", so besides
// it the matcher keeps a starred hash (bpf/lib/match.h) that writes "*" the
// component after every star prefix it meets — a directory registered as
// coming before some pattern's "*". Which components a path's starred hash
// writes "*" therefore depends on the list's star prefixes, not on the
// pattern the path is matched against. starPrefixes chooses the prefixes so
// that every "*" of every pattern is one the starred hash writes, and
// starredForm says what a pattern's paths hash to: the pattern itself, or,
// where another pattern's star prefix lies on its paths, the pattern with
// that component written "*" too (wider: reported as widened).

// pathPattern is one path entry of a list on its way into the kernel: its
// components up to a final "*" or "**", which match says.
type pathPattern struct {
	pattern string
	comps   []string
	match   PathMatch
	access  uint8
}

// hasInnerStar reports whether a "*" stands among the pattern's components
// (before its last, or before a final "*" or "**").
func (p pathPattern) hasInnerStar() bool {
	for _, c := range p.comps {
		if c == "*" {
			return true
		}
	}
	return false
}

// starWalk is what the kernel's starred hash makes of a pattern's paths
// under the star prefixes given: form, the components as it hashes them
// ("*" where it stars one), and missed, the first "*" of the pattern it
// does not star, or -1.
func starWalk(comps []string, prefixes map[uint64]bool) (form []string, missed int) {
	form = make([]string, len(comps))
	missed = -1
	for i, c := range comps {
		form[i] = c
		if prefixes[pathHash(form[:i], false)] {
			form[i] = "*"
		} else if c == "*" && missed < 0 {
			missed = i
		}
	}
	return form, missed
}

// starPrefixes registers, until every pattern's "*"s are starred, the
// directory before each "*" the starred hash misses. Each round adds a
// prefix, from a finite set (prefixes of the patterns with some components
// starred); rounds are capped all the same, and a pattern left with a
// missed "*" is widened to the subtree there by its caller.
func starPrefixes(patterns []pathPattern) map[uint64]bool {
	prefixes := map[uint64]bool{}
	for range 8 * (len(patterns) + 1) {
		added := false
		for _, p := range patterns {
			if !p.hasInnerStar() {
				continue
			}
			if form, missed := starWalk(p.comps, prefixes); missed >= 0 {
				prefixes[pathHash(form[:missed], false)] = true
				added = true
			}
		}
		if !added {
			break
		}
	}
	return prefixes
}

// starredForm is the rule the kernel enforces for p, a pattern with an
// inner "*", and the pattern it amounts to when that is wider than p:
// where another pattern's star prefix lies on p's paths (a name p writes
// out is starred), or where the rounds of starPrefixes ran out.
func starredForm(p pathPattern, prefixes map[uint64]bool) (rule PathRule, wider string) {
	form, missed := starWalk(p.comps, prefixes)
	match, widened := p.match, missed >= 0
	if widened {
		form, match = form[:missed], MatchSubtree
	}
	for i, c := range form {
		widened = widened || (c == "*" && profile.CanonicalName(p.comps[i]) != "*")
	}
	rule = PathRule{Match: match, Hash: pathHash(form, match == MatchExact), Access: p.access}
	if !widened {
		return rule, ""
	}
	wider = "/" + strings.Join(form, "/")
	switch match {
	case MatchChildren:
		wider = strings.TrimSuffix(wider, "/") + "/*"
	case MatchSubtree:
		wider = strings.TrimSuffix(wider, "/") + "/**"
	}
	return rule, wider
}
