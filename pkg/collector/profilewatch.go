package collector

import (
	"sync"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// profileWatchQueue is how many profile changes may wait for one agent.
const profileWatchQueue = 256

// profileWatch is one agent's WatchProfiles stream. Profile changes are not
// dropped: a watch that cannot keep up is kicked, and its agent reconnects
// and gets a full snapshot.
type profileWatch struct {
	digests  map[string]bool // nil: every digest
	ch       chan *vigilv1.Profile
	kick     chan struct{}
	kickOnce sync.Once
}

func (ps *profiles) watch(digests []string) *profileWatch {
	w := &profileWatch{ch: make(chan *vigilv1.Profile, profileWatchQueue), kick: make(chan struct{})}
	if len(digests) > 0 {
		w.digests = make(map[string]bool, len(digests))
		for _, d := range digests {
			w.digests[d] = true
		}
	}
	ps.watchMu.Lock()
	ps.watches[w] = struct{}{}
	ps.watchMu.Unlock()
	ps.c.m.profileWatches.Inc()
	return w
}

func (ps *profiles) unwatch(w *profileWatch) {
	ps.watchMu.Lock()
	delete(ps.watches, w)
	ps.watchMu.Unlock()
	ps.c.m.profileWatches.Dec()
}

func (w *profileWatch) wants(digest string) bool {
	return w.digests == nil || w.digests[digest]
}

func (ps *profiles) publish(p *vigilv1.Profile) {
	ps.watchMu.Lock()
	defer ps.watchMu.Unlock()
	for w := range ps.watches {
		if !w.wants(p.GetImageDigest()) {
			continue
		}
		select {
		case w.ch <- p:
		default:
			w.kickOnce.Do(func() {
				ps.c.m.profileResyncs.Inc()
				close(w.kick)
			})
		}
	}
}
