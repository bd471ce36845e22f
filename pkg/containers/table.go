package containers

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// Bounds of the lookup caches of non-container cgroups. Cgroup ids are never
// reused, so a cached answer stays right; the bound only caps memory.
const (
	maxHostCache       = 1 << 16
	maxUnresolvedCache = 1 << 12
	// unresolvedRetry is how long an unresolvable cgroup is answered from the
	// cache before containerd is asked again.
	unresolvedRetry = time.Second
)

// key names a container across namespaces.
type key struct{ namespace, id string }

func keyOf(c *Container) key { return key{c.Namespace, c.ID} }

// entry is one container task the table knows.
type entry struct {
	c *Container
	// aliases are nested cgroups (below the container's) resolved to it.
	aliases []uint64
	// gone is when the task exited or the container was deleted; zero while
	// live. A gone entry still answers lookups for the linger time: events
	// of its last processes may still be on their way.
	gone time.Time
}

// table is the resolver's state: containers by cgroup id, and the scopes
// written to the ScopeTable. Lookups read it concurrently; containerd events
// and on-demand resolutions write it.
type table struct {
	scopes ScopeTable // nil: no kernel side
	// hostSet mirrors host in the kernel (nil: no kernel side), with the
	// root cgroup, which Lookup answers without the cache, always in it.
	hostSet HostCgroups
	root    uint64
	m       *metrics
	log     *zap.Logger
	linger  time.Duration
	now     func() time.Time

	mu         sync.RWMutex
	byCgroup   map[uint64]*entry // live and lingering, aliases included
	live       map[key]*entry    // the current task of each container
	scopeOf    map[key]uint32
	lastScope  uint32
	deleted    map[key]time.Time // deleted containers, for the linger time
	host       map[uint64]struct{}
	unresolved map[uint64]unresolved
}

// unresolved is a cached Unattributed answer and when to ask again.
type unresolved struct {
	a     Attribution
	retry time.Time
}

func newTable(scopes ScopeTable, m *metrics, log *zap.Logger, linger time.Duration) *table {
	return &table{
		scopes: scopes, m: m, log: log, linger: linger, now: time.Now,
		byCgroup:   map[uint64]*entry{},
		live:       map[key]*entry{},
		scopeOf:    map[key]uint32{},
		deleted:    map[key]time.Time{},
		host:       map[uint64]struct{}{},
		unresolved: map[uint64]unresolved{},
	}
}

// get returns the container of cgroup id, if known.
func (t *table) get(id uint64) *Container {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e := t.byCgroup[id]; e != nil {
		return e.c
	}
	return nil
}

// cached returns what an earlier on-demand lookup found for a cgroup that is
// not a known container: host, or unattributed until a retry is due.
func (t *table) cached(id uint64) (Attribution, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if _, ok := t.host[id]; ok {
		return Attribution{Kind: Host}, true
	}
	if u, ok := t.unresolved[id]; ok && t.now().Before(u.retry) {
		return u.a, true
	}
	return Attribution{}, false
}

func (t *table) markHost(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// The kernel's set is as large as the cache, and holds the root too.
	if len(t.host) >= maxHostCache-1 {
		clear(t.host)
		t.clearHostSet()
	}
	t.host[id] = struct{}{}
	t.markHostSet(id)
}

// setHostCgroups makes hs mirror the cache of host cgroups, and marks the
// root cgroup in it.
func (t *table) setHostCgroups(hs HostCgroups, root uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hostSet, t.root = hs, root
	t.markHostSet(root)
}

// markHostSet marks one cgroup in the kernel's host set. A failure only
// leaves the cgroup's events delivered, as without the set. Callers hold mu.
func (t *table) markHostSet(id uint64) {
	if t.hostSet == nil {
		return
	}
	if err := t.hostSet.Mark(id); err != nil {
		t.m.scopeErrors.WithLabelValues("mark_host").Inc()
		t.log.Warn("mark cgroup as the host's in the kernel", zap.Uint64(keyCgroupID, id), zap.Error(err))
	}
}

// clearHostSet empties the kernel's host set but for the root cgroup.
// Callers hold mu.
func (t *table) clearHostSet() {
	if t.hostSet == nil {
		return
	}
	if err := t.hostSet.Clear(); err != nil {
		t.m.scopeErrors.WithLabelValues("clear_host").Inc()
		t.log.Warn("clear the kernel's host cgroups", zap.Error(err))
	}
	t.markHostSet(t.root)
}

func (t *table) markUnresolved(id uint64, a Attribution) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.unresolved) >= maxUnresolvedCache {
		clear(t.unresolved)
	}
	t.unresolved[id] = unresolved{a: a, retry: t.now().Add(unresolvedRetry)}
}

// enclosing returns the live container whose cgroup is a strict ancestor of
// cgroup path p: p is a cgroup the container made inside its own.
func (t *table) enclosing(p string) *Container {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.live {
		if p != e.c.CgroupPath && within(p, e.c.CgroupPath) {
			return e.c
		}
	}
	return nil
}

// add records c (a fresh value the table may complete) as its container's
// current task and returns the container as stored: a task already known
// with the same cgroup is kept as first learned, so a tag moved later does
// not change its digest. An on-demand result for a container deleted since
// is returned without being stored.
func (t *table) add(c *Container) *Container {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := keyOf(c)
	if c.Source == SourceOnDemand {
		if _, ok := t.deleted[k]; ok {
			return c
		}
	}
	if e := t.live[k]; e != nil {
		if e.c.CgroupID == c.CgroupID {
			return e.c
		}
		t.retire(e) // a new task of the same container: the old cgroup is gone
	}
	delete(t.deleted, k)
	scope, ok := t.scopeOf[k]
	if !ok {
		t.lastScope++
		scope = t.lastScope
		t.scopeOf[k] = scope
	}
	c.Scope = scope
	e := &entry{c: c}
	t.byCgroup[c.CgroupID] = e
	t.live[k] = e
	delete(t.unresolved, c.CgroupID)
	delete(t.host, c.CgroupID)
	t.setScope(c.CgroupID, scope)
	t.m.tracked.Set(float64(len(t.live)))
	return c
}

// isLive reports whether container k has a live task the table knows.
func (t *table) isLive(k key) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.live[k] != nil
}

// alias records nested cgroup id as belonging to c's container.
func (t *table) alias(id uint64, c *Container) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byCgroup[c.CgroupID]
	if e == nil || e.c != c {
		return
	}
	e.aliases = append(e.aliases, id)
	t.byCgroup[id] = e
	if e.gone.IsZero() {
		t.setScope(id, c.Scope)
	}
}

// exited retires the current task of container k.
func (t *table) exited(k key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.live[k]; e != nil {
		t.retire(e)
		delete(t.live, k)
		t.m.tracked.Set(float64(len(t.live)))
	}
}

// removed forgets container k: its task retires and its scope is released.
func (t *table) removed(k key) {
	t.exited(k)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deleted[k] = t.now()
	delete(t.scopeOf, k)
}

// reconcile retires every live task not in running, after an inventory.
func (t *table) reconcile(running map[key]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.live {
		if !running[k] {
			t.retire(e)
			delete(t.live, k)
		}
	}
	t.m.tracked.Set(float64(len(t.live)))
}

// retire marks e gone and removes its cgroups from the kernel's table.
// Callers hold mu.
func (t *table) retire(e *entry) {
	if !e.gone.IsZero() {
		return
	}
	e.gone = t.now()
	for _, id := range append([]uint64{e.c.CgroupID}, e.aliases...) {
		if t.scopes == nil {
			continue
		}
		if err := t.scopes.Delete(id); err != nil {
			t.m.scopeErrors.WithLabelValues("delete").Inc()
			t.log.Warn("remove container cgroup from the kernel scope table",
				zap.String(keyContainerID, e.c.ID), zap.Uint64(keyCgroupID, id), zap.Error(err))
		}
	}
}

// setScope writes one ScopeTable entry. Callers hold mu.
func (t *table) setScope(id uint64, scope uint32) {
	if t.scopes == nil {
		return
	}
	if err := t.scopes.Set(id, scope); err != nil {
		t.m.scopeErrors.WithLabelValues("set").Inc()
		t.log.Warn("add container cgroup to the kernel scope table",
			zap.Uint64(keyCgroupID, id), zap.Uint32(keyScope, scope), zap.Error(err))
	}
}

// sweep forgets gone entries and tombstones older than the linger time.
func (t *table) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	cutoff := t.now().Add(-t.linger)
	for id, e := range t.byCgroup {
		if !e.gone.IsZero() && e.gone.Before(cutoff) {
			delete(t.byCgroup, id)
		}
	}
	for k, at := range t.deleted {
		if at.Before(cutoff) {
			delete(t.deleted, k)
		}
	}
	now := t.now()
	for id, u := range t.unresolved {
		if now.After(u.retry) {
			delete(t.unresolved, id)
		}
	}
}

// containers returns the containers with a live task.
func (t *table) containers() []*Container {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*Container, 0, len(t.live))
	for _, e := range t.live {
		out = append(out, e.c)
	}
	return out
}
