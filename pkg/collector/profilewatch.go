package collector

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

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

// changed publishes to this collector's watchers the latest version of
// digest, which another replica may have made ("": of every digest, as
// notifications may have been lost). Watchers skip versions they have.
func (ps *profiles) changed(digest string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var latest []*vigilv1.Profile
	var err error
	if digest == "" {
		latest, err = ps.c.opts.Store.LatestProfiles(ctx, true)
	} else {
		var p *vigilv1.Profile
		if p, err = ps.latest(ctx, digest); p != nil {
			latest = append(latest, p)
		}
	}
	if err != nil {
		ps.c.m.syncErrors.Inc()
		ps.c.log.Error("read profiles another replica changed; agents get them when they reconnect", zap.Error(err))
		return
	}
	for _, p := range latest {
		ps.publish(p)
	}
}
