package profile

import (
	"cmp"
	"slices"
	"time"
)

// Stability is how settled a learning run looks: a draft that has added
// nothing new for a long time, across many containers, is a candidate for
// promotion.
type Stability struct {
	Entries           int
	Observations      uint64
	Containers        int
	ContainersCapped  bool
	Nodes             int
	Started           time.Time
	LastNewEntry      time.Time
	SinceLastNewEntry time.Duration
	Incomplete        bool
}

// Stability measures the profile's learning run as of now.
func (p *Profile) Stability(now time.Time) Stability {
	return p.Metadata.Learning.stability(p.Spec.Entries(), now)
}

func (l Learning) stability(entries int, now time.Time) Stability {
	s := Stability{
		Entries:          entries,
		Observations:     l.Observations,
		Containers:       l.Containers.Len(),
		ContainersCapped: l.Containers.Capped,
		Nodes:            l.Nodes.Len(),
		Started:          l.Started,
		LastNewEntry:     l.LastNewEntry,
		Incomplete:       l.IsIncomplete(),
	}
	if !l.LastNewEntry.IsZero() {
		s.SinceLastNewEntry = now.Sub(l.LastNewEntry)
	}
	return s
}

// record notes o (with its repeats) in the learning run.
func (l *Learning) record(o *Observation, t time.Time, added bool, maxIDs int) {
	l.Observations += o.sightings()
	if !t.IsZero() {
		if l.Started.IsZero() || t.Before(l.Started) {
			l.Started = t
		}
		if t.After(l.LastSeen) {
			l.LastSeen = t
		}
		if added && t.After(l.LastNewEntry) {
			l.LastNewEntry = t
		}
	}
	l.Containers.add(shortID(o.ContainerID), maxIDs)
	l.Nodes.add(o.Node, maxIDs)
}

// markIncomplete adds count events lost for reason.
func (l *Learning) markIncomplete(reason string, count uint64) {
	i, found := slices.BinarySearchFunc(l.Incomplete, reason, func(r IncompleteReason, s string) int {
		return cmp.Compare(r.Reason, s)
	})
	if found {
		l.Incomplete[i].Count += count
		return
	}
	l.Incomplete = slices.Insert(l.Incomplete, i, IncompleteReason{Reason: reason, Count: count})
}

// merge folds the learning run o (another node's) into l.
func (l *Learning) merge(o Learning, maxIDs int) {
	if !o.Started.IsZero() && (l.Started.IsZero() || o.Started.Before(l.Started)) {
		l.Started = o.Started
	}
	if o.LastSeen.After(l.LastSeen) {
		l.LastSeen = o.LastSeen
	}
	if o.LastNewEntry.After(l.LastNewEntry) {
		l.LastNewEntry = o.LastNewEntry
	}
	l.Observations += o.Observations
	l.Containers.union(o.Containers, maxIDs)
	l.Nodes.union(o.Nodes, maxIDs)
	for _, r := range o.Incomplete {
		l.markIncomplete(r.Reason, r.Count)
	}
}
