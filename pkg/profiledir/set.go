package profiledir

import (
	"maps"
	"slices"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// Set is an immutable collection of profiles in force, keyed by digest.
// Loaders publish a new Set on every change; readers keep the one they got.
type Set struct {
	byDigest   map[string]*profile.Profile
	generation uint64
}

// Get returns the profile for an image digest.
func (s *Set) Get(digest string) (*profile.Profile, bool) {
	p, ok := s.byDigest[digest]
	return p, ok
}

// All lists the profiles by digest.
func (s *Set) All() []*profile.Profile {
	out := make([]*profile.Profile, 0, len(s.byDigest))
	for _, d := range s.Digests() {
		out = append(out, s.byDigest[d])
	}
	return out
}

// Len is the number of profiles.
func (s *Set) Len() int { return len(s.byDigest) }

// Digests lists the digests in sorted order.
func (s *Set) Digests() []string { return slices.Sorted(maps.Keys(s.byDigest)) }

// Generation increases with every change a loader publishes.
func (s *Set) Generation() uint64 { return s.generation }
