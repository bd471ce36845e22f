package profile

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestValidatePattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"/", nil},
		{"/usr/bin/env", nil},
		{"/proc/*/status", nil},
		{"/usr/lib/**", nil},
		{"/*", nil},
		{"usr/bin", errRelative},
		{"", errRelative},
		{"/usr//bin", errEmptyComp},
		{"/usr/bin/", errEmptyComp},
		{"/usr/../etc", errDotComp},
		{"/./etc", errDotComp},
		{"/a/**/b", errAnyNotLast},
		{"/tmp/tmp.*", errPartialStar},
		{"/a\x00b", errNUL},
	} {
		if got := ValidatePattern(tc.in); got != tc.want {
			t.Errorf("ValidatePattern(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/", "/", true},
		{"/", "/etc", false},
		{"/etc/passwd", "/etc/passwd", true},
		{"/etc/passwd", "/etc/passwd2", false},
		{"/etc/passwd", "/etc", false},
		{"/proc/*/status", "/proc/1/status", true},
		{"/proc/*/status", "/proc/status", false},
		{"/proc/*/status", "/proc/1/2/status", false},
		{"/usr/lib/**", "/usr/lib/x", true},
		{"/usr/lib/**", "/usr/lib/x/y/z.so", true},
		{"/usr/lib/**", "/usr/lib", false},
		{"/*", "/etc", true},
		{"/*", "/etc/x", false},
	} {
		if got := MatchPattern(tc.pattern, tc.path); got != tc.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestSubsumes(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"/tmp/*", "/tmp/x", true},
		{"/tmp/*", "/tmp/*", true},
		{"/tmp/x", "/tmp/*", false},
		{"/tmp/**", "/tmp/*/y", true},
		{"/tmp/**", "/tmp/**", true},
		{"/tmp/*", "/tmp/**", false},
		{"/tmp/*", "/tmp/x/y", false},
		{"/tmp/**", "/tmp", false},
		{"/a/*/c", "/a/b/c", true},
		{"/a/*/c", "/a/b/d", false},
	} {
		if got := subsumesComps(components(tc.a), components(tc.b)); got != tc.want {
			t.Errorf("subsumes(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestIndexAgreesWithReference checks the trie against MatchPattern on
// random patterns and paths over a small alphabet, so that wildcards,
// backtracking and "**" collide often.
func TestIndexAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "c"}
	randPath := func(wild bool) string {
		n := 1 + rng.IntN(4)
		comps := make([]string, n)
		for i := range comps {
			comps[i] = names[rng.IntN(len(names))]
			if wild && rng.IntN(4) == 0 {
				comps[i] = wildOne
			}
		}
		if wild && rng.IntN(5) == 0 {
			comps[n-1] = wildAny
		}
		return "/" + strings.Join(comps, "/")
	}
	for round := 0; round < 200; round++ {
		ix := newPathIndex()
		var patterns []string
		seen := map[string]bool{}
		for len(patterns) < 1+rng.IntN(12) {
			p := randPath(true)
			if !seen[p] {
				seen[p] = true
				ix.insert(p, int32(len(patterns)), 0)
				patterns = append(patterns, p)
			}
		}
		for q := 0; q < 50; q++ {
			path := randPath(false)
			want := false
			for _, p := range patterns {
				want = want || MatchPattern(p, path)
			}
			id, got := ix.lookup(path, 0)
			if got != want {
				t.Fatalf("patterns %q, path %q: index says %v, reference %v", patterns, path, got, want)
			}
			if got && !MatchPattern(patterns[id], path) {
				t.Fatalf("index returned %q which does not match %q", patterns[id], path)
			}
		}
	}
}

func TestIndexAccessMasks(t *testing.T) {
	ix := newPathIndex()
	ix.insert("/etc/*", 0, AccessRead)
	ix.insert("/etc/app.conf", 1, AccessWrite)
	if id, ok := ix.lookup("/etc/app.conf", AccessWrite); !ok || id != 1 {
		t.Errorf("write: got %d %v, want the literal write entry", id, ok)
	}
	if id, ok := ix.lookup("/etc/app.conf", AccessRead); !ok || id != 0 {
		t.Errorf("read: got %d %v, want the read wildcard (backtracking past the literal)", id, ok)
	}
	if _, ok := ix.lookup("/etc/app.conf", AccessReadWrite); ok {
		t.Error("readwrite: no single entry grants both, want no match")
	}
}
