package profile

import (
	"slices"
	"time"
)

// shortIDLen is how much of a container id evidence keeps: the 12 characters
// that docker, crictl and ctr show. 48 bits of a random id keep distinct
// containers distinct while the profile stays readable.
const shortIDLen = 12

// IDSet is a bounded set of ids (container ids or node names) used to count
// in how many distinct containers or nodes an entry was seen. It keeps at
// most a configured number of ids, the lexicographically smallest ones, so
// that merging sets is order-independent; Capped says ids were left out and
// the distinct count is then a lower bound.
type IDSet struct {
	IDs    []string
	Capped bool
}

// Len is the number of distinct ids known; a lower bound when Capped.
func (s IDSet) Len() int { return len(s.IDs) }

// add inserts id keeping at most max ids; it reports whether id was new.
func (s *IDSet) add(id string, max int) bool {
	if id == "" {
		return false
	}
	i, found := slices.BinarySearch(s.IDs, id)
	if found {
		return false
	}
	if len(s.IDs) >= max {
		s.Capped = true
		if i >= len(s.IDs) {
			return false
		}
		s.IDs = s.IDs[:len(s.IDs)-1]
	}
	s.IDs = slices.Insert(s.IDs, i, id)
	return true
}

// union merges o into s, keeping at most max ids.
func (s *IDSet) union(o IDSet, max int) {
	merged := make([]string, 0, len(s.IDs)+len(o.IDs))
	a, b := s.IDs, o.IDs
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0] < b[0]):
			merged, a = append(merged, a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			merged, b = append(merged, b[0]), b[1:]
		default:
			merged, a, b = append(merged, a[0]), a[1:], b[1:]
		}
	}
	s.Capped = s.Capped || o.Capped
	if len(merged) > max {
		merged, s.Capped = merged[:max], true
	}
	s.IDs = merged
}

func (s IDSet) clone() IDSet {
	return IDSet{IDs: slices.Clone(s.IDs), Capped: s.Capped}
}

func (s IDSet) equal(o IDSet) bool {
	return s.Capped == o.Capped && slices.Equal(s.IDs, o.IDs)
}

// Evidence is why an entry is in a profile: when and how often it was seen,
// and in how many distinct containers and nodes.
type Evidence struct {
	FirstSeen  time.Time
	LastSeen   time.Time
	Count      uint64
	Containers IDSet
	Nodes      IDSet
}

// IsZero reports whether there is no evidence (a hand-written entry).
func (e Evidence) IsZero() bool {
	return e.Count == 0 && e.FirstSeen.IsZero() && e.LastSeen.IsZero() &&
		len(e.Containers.IDs) == 0 && len(e.Nodes.IDs) == 0
}

// observe records o's sightings (itself and its repeats) at t.
func (e *Evidence) observe(o *Observation, t time.Time, maxIDs int) {
	if !t.IsZero() {
		if e.FirstSeen.IsZero() || t.Before(e.FirstSeen) {
			e.FirstSeen = t
		}
		if t.After(e.LastSeen) {
			e.LastSeen = t
		}
	}
	e.Count += o.sightings()
	e.Containers.add(shortID(o.ContainerID), maxIDs)
	e.Nodes.add(o.Node, maxIDs)
}

// merge folds o into e: first seen is the earliest, last seen the latest,
// counts add up and the id sets are unioned.
func (e *Evidence) merge(o Evidence, maxIDs int) {
	if !o.FirstSeen.IsZero() && (e.FirstSeen.IsZero() || o.FirstSeen.Before(e.FirstSeen)) {
		e.FirstSeen = o.FirstSeen
	}
	if o.LastSeen.After(e.LastSeen) {
		e.LastSeen = o.LastSeen
	}
	e.Count += o.Count
	e.Containers.union(o.Containers, maxIDs)
	e.Nodes.union(o.Nodes, maxIDs)
}

func (e Evidence) clone() Evidence {
	e.Containers = e.Containers.clone()
	e.Nodes = e.Nodes.clone()
	return e
}

func (e Evidence) equal(o Evidence) bool {
	return e.FirstSeen.Equal(o.FirstSeen) && e.LastSeen.Equal(o.LastSeen) &&
		e.Count == o.Count && e.Containers.equal(o.Containers) && e.Nodes.equal(o.Nodes)
}

// shortID trims a container id to the length evidence keeps.
func shortID(id string) string {
	if len(id) > shortIDLen {
		return id[:shortIDLen]
	}
	return id
}

// normTime drops the monotonic reading and location so that times compare
// and serialise identically after a round trip.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}
