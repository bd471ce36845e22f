package profile

import (
	"fmt"
	"time"
)

// ReadinessPolicy says what evidence makes a profile ready to enforce.
type ReadinessPolicy struct {
	// StableFor is how long learning must have added nothing new.
	StableFor time.Duration
	// MinContainers is how many containers it must have been learned from:
	// at least one restart or one replica beside the first.
	MinContainers int
}

// DefaultReadiness: a day without a new entry, from two containers.
var DefaultReadiness = ReadinessPolicy{StableFor: 24 * time.Hour, MinContainers: 2}

// NotReady says why p's evidence does not make it ready to enforce as of
// now: empty when it does. The evidence is its learning run's: when it last
// grew, from how many containers, and whether events of its containers
// were missed (lost or not attributed), any of which may hide behaviour
// enforcement would then refuse.
func (p *Profile) NotReady(now time.Time, pol ReadinessPolicy) []string {
	l := p.Metadata.Learning
	var why []string
	switch {
	case l.LastNewEntry.IsZero():
		why = append(why, "nothing learned")
	case now.Sub(l.LastNewEntry) < pol.StableFor:
		why = append(why, fmt.Sprintf("learned a new entry %s ago (ready after %s without one)",
			now.Sub(l.LastNewEntry).Round(time.Second), pol.StableFor))
	}
	if n := l.Containers.Len(); n < pol.MinContainers && !l.Containers.Capped {
		why = append(why, fmt.Sprintf("learned from %d container(s) (ready from %d: a restart or a replica)", n, pol.MinContainers))
	}
	for _, r := range l.Incomplete {
		why = append(why, fmt.Sprintf("incomplete: %s (%d)", r.Reason, r.Count))
	}
	return why
}
