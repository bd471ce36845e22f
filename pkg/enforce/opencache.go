package enforce

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// openCacheSize bounds the verdicts the fanotify tier keeps, in two
// generations of half as many each: when the newer is full, the older is
// dropped (counted as a reset) and the newer takes its place, so the files
// opened lately stay cached. A verdict takes about 240 bytes with its path:
// 65 536 of them were 15 MiB of the agent's heap, which Go lets grow to
// twice what is live.
const openCacheSize = 1 << 13

// FileID is the identity of an opened file as far as a verdict on it can
// change: its inode, and its change time, which a copy-up to a container's
// upper directory, a write, a rename or a new link moves (the image check,
// and the path, can then answer otherwise). Zero: unknown, never cached.
type FileID struct {
	Dev, Ino uint64
	Ctime    unix.Timespec
}

// FileIDOf is the identity of a file from its fstat.
func FileIDOf(st *unix.Stat_t) FileID {
	return FileID{Dev: st.Dev, Ino: st.Ino, Ctime: st.Ctim}
}

// openKey is everything an open's rights follow from: the process's
// container (its cgroup: the image check looks at its root), the mode and
// profile in force, the file's path as the listener sees it and its
// identity. A new profile or mode is a new key: no stale verdict is served
// even before the controller forgets the old ones.
type openKey struct {
	cgroup  uint64
	mode    profile.Mode
	profile *profile.Profile
	path    string
	file    FileID
}

// openCache keeps the rights a profile gives over files the fanotify tier
// judged, so that the next open of the same file skips the profile's
// matching and the image check. Every right is kept, denials and
// one-access files too: the open's access still decides between them.
type openCache struct {
	mu sync.Mutex
	// rights is the newer generation, older the one before: a hit there
	// moves to rights.
	rights, older map[openKey]openRights
	lookups       *prometheus.CounterVec
}

func newOpenCache(reg prometheus.Registerer) (*openCache, error) {
	c := &openCache{rights: map[openKey]openRights{}, older: map[openKey]openRights{}, lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_fanotify_verdict_cache_total",
		Help: "Opens of enforced containers the fanotify tier looked up in its verdict cache: hit (answered without matching the profile; an open the read loop leaves to the judged path, a refusal, counts a hit in each), miss, or reset (the cache was full and dropped its older half).",
	}, []string{"result"})}
	if err := reg.Register(c.lookups); err != nil {
		return nil, err
	}
	return c, nil
}

// get is k's rights, a hit counted; a miss is counted by put, so that a
// lookup from the read loop followed by its goroutine's counts once.
func (c *openCache) get(k openKey) (openRights, bool) {
	c.mu.Lock()
	r, ok := c.rights[k]
	if !ok {
		if r, ok = c.older[k]; ok {
			delete(c.older, k)
			c.add(k, r)
		}
	}
	c.mu.Unlock()
	if ok {
		c.lookups.WithLabelValues("hit").Inc()
	}
	return r, ok
}

func (c *openCache) put(k openKey, r openRights) {
	c.lookups.WithLabelValues("miss").Inc()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(k, r)
}

// add keeps k's rights in the newer generation, which becomes the older
// one when full. c.mu is held.
func (c *openCache) add(k openKey, r openRights) {
	if len(c.rights) >= openCacheSize/2 {
		clear(c.older)
		c.older, c.rights = c.rights, c.older
		c.lookups.WithLabelValues("reset").Inc()
	}
	c.rights[k] = r
}

// forget drops every verdict: after a profile change none would be asked
// for again.
func (c *openCache) forget() {
	c.mu.Lock()
	clear(c.rights)
	clear(c.older)
	c.mu.Unlock()
}
