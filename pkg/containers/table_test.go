package containers

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

func newTestTable(t *testing.T, scopes ScopeTable) (*table, *metrics, *time.Time) {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tbl := newTable(scopes, m, zap.NewNop(), time.Minute)
	now := time.Unix(1000, 0)
	tbl.now = func() time.Time { return now }
	return tbl, m, &now
}

func ctr(ns, id string, cgroupID uint64, digest string) *Container {
	return &Container{ID: id, Namespace: ns, CgroupID: cgroupID, CgroupPath: "/" + ns + "/" + id, ImageDigest: digest, Source: SourceEvent}
}

func TestTableScopesFollowContainerLifecycle(t *testing.T) {
	scopes := newMemScopeTable(16)
	tbl, m, now := newTestTable(t, scopes)

	a := tbl.add(ctr("k8s.io", "a", 100, "sha256:aa"))
	b := tbl.add(ctr("k8s.io", "b", 200, "sha256:bb"))
	if a.Scope == 0 || b.Scope == 0 || a.Scope == b.Scope {
		t.Fatalf("scopes a=%d b=%d: want distinct non-zero", a.Scope, b.Scope)
	}
	if want := map[uint64]uint32{100: a.Scope, 200: b.Scope}; !maps.Equal(scopes.snapshot(), want) {
		t.Fatalf("scope table %v, want %v", scopes.snapshot(), want)
	}
	if got := testutil.ToFloat64(m.tracked); got != 2 {
		t.Errorf("tracked = %v, want 2", got)
	}

	// Task restarted: a new cgroup, the same scope; the old cgroup leaves the kernel table.
	a2 := tbl.add(ctr("k8s.io", "a", 101, "sha256:aa"))
	if a2.Scope != a.Scope {
		t.Errorf("restarted task scope %d, want the container's %d", a2.Scope, a.Scope)
	}
	if _, ok := scopes.get(100); ok {
		t.Error("old task's cgroup 100 still in the scope table")
	}
	// ...but its last events still resolve, until the linger time passes.
	if got := tbl.get(100); got != a {
		t.Errorf("lookup of the old task's cgroup = %v, want the old record", got)
	}

	tbl.exited(key{"k8s.io", "b"})
	if _, ok := scopes.get(200); ok {
		t.Error("exited task's cgroup 200 still in the scope table")
	}
	if tbl.get(200) != b {
		t.Error("exited task no longer resolvable within the linger time")
	}
	tbl.removed(key{"k8s.io", "b"})

	*now = now.Add(2 * time.Minute)
	tbl.sweep()
	for _, id := range []uint64{100, 200} {
		if c := tbl.get(id); c != nil {
			t.Errorf("cgroup %d still resolvable after the linger time: %+v", id, c)
		}
	}
	if tbl.get(101) != a2 {
		t.Error("the live task was swept")
	}
	if want := map[uint64]uint32{101: a.Scope}; !maps.Equal(scopes.snapshot(), want) {
		t.Fatalf("scope table %v, want %v", scopes.snapshot(), want)
	}
	if got := testutil.ToFloat64(m.tracked); got != 1 {
		t.Errorf("tracked = %v, want 1", got)
	}
}

func TestTableKeepsFirstLearnedDigest(t *testing.T) {
	tbl, _, _ := newTestTable(t, nil)
	first := tbl.add(ctr("k8s.io", "a", 100, "sha256:first"))
	again := tbl.add(ctr("k8s.io", "a", 100, "sha256:moved"))
	if again != first || again.ImageDigest != "sha256:first" {
		t.Fatalf("re-learned container has digest %s, want the first learned", again.ImageDigest)
	}
}

func TestTableOnDemandDoesNotResurrectDeleted(t *testing.T) {
	scopes := newMemScopeTable(16)
	tbl, _, _ := newTestTable(t, scopes)
	tbl.add(ctr("k8s.io", "a", 100, "sha256:aa"))
	tbl.removed(key{"k8s.io", "a"})

	late := ctr("k8s.io", "a", 100, "sha256:aa")
	late.Source = SourceOnDemand
	if got := tbl.add(late); got != late {
		t.Fatal("on-demand result not returned")
	}
	if tbl.isLive(key{"k8s.io", "a"}) {
		t.Error("a deleted container became live again from a late on-demand lookup")
	}
	if len(scopes.snapshot()) != 0 {
		t.Errorf("scope table %v, want empty", scopes.snapshot())
	}
	// A new container of the same id (an event) is learned as usual, with a new scope.
	fresh := tbl.add(ctr("k8s.io", "a", 300, "sha256:aa"))
	if !tbl.isLive(key{"k8s.io", "a"}) || fresh.Scope == 0 {
		t.Error("a recreated container was not learned")
	}
}

func TestTableReconcileRetiresMissed(t *testing.T) {
	scopes := newMemScopeTable(16)
	tbl, _, _ := newTestTable(t, scopes)
	tbl.add(ctr("k8s.io", "a", 100, "d"))
	tbl.add(ctr("default", "b", 200, "d"))
	tbl.reconcile(map[key]bool{{"default", "b"}: true})
	if tbl.isLive(key{"k8s.io", "a"}) || !tbl.isLive(key{"default", "b"}) {
		t.Fatal("reconcile kept the wrong containers")
	}
	if got := slices.Collect(maps.Keys(scopes.snapshot())); !slices.Equal(got, []uint64{200}) {
		t.Errorf("scope table keys %v, want [200]", got)
	}
}

func TestTableAliasesShareTheContainersScope(t *testing.T) {
	scopes := newMemScopeTable(16)
	tbl, _, _ := newTestTable(t, scopes)
	a := tbl.add(ctr("k8s.io", "a", 100, "d"))
	tbl.alias(150, a)
	if tbl.get(150) != a {
		t.Fatal("nested cgroup does not resolve to its container")
	}
	if s, ok := scopes.get(150); !ok || s != a.Scope {
		t.Fatalf("nested cgroup scope = %d, %v; want %d", s, ok, a.Scope)
	}
	tbl.exited(key{"k8s.io", "a"})
	if len(scopes.snapshot()) != 0 {
		t.Errorf("scope table %v after exit, want empty", scopes.snapshot())
	}
}

func TestTableCountsScopeTableFailures(t *testing.T) {
	scopes := newMemScopeTable(1)
	tbl, m, _ := newTestTable(t, scopes)
	tbl.add(ctr("k8s.io", "a", 100, "d"))
	b := tbl.add(ctr("k8s.io", "b", 200, "d"))
	if got := testutil.ToFloat64(m.scopeErrors.WithLabelValues("set")); got != 1 {
		t.Errorf("scope_table_errors_total{op=set} = %v, want 1", got)
	}
	if tbl.get(200) != b {
		t.Error("a container the kernel table could not take is not resolvable in userspace")
	}
}

// memHostCgroups is a HostCgroups in memory.
type memHostCgroups struct{ marked map[uint64]bool }

func (h *memHostCgroups) Mark(id uint64) error { h.marked[id] = true; return nil }
func (h *memHostCgroups) Clear() error         { clear(h.marked); return nil }

// TestTableMarksHostCgroupsInTheKernel: the root cgroup is marked at once,
// each cgroup resolved as the host's as it is, and when the cache of host
// cgroups is full the kernel's set is emptied with it, the root marked again.
func TestTableMarksHostCgroupsInTheKernel(t *testing.T) {
	const root = 1
	hosts := &memHostCgroups{marked: map[uint64]bool{}}
	tbl, _, _ := newTestTable(t, nil)
	tbl.setHostCgroups(hosts, root)
	if !hosts.marked[root] {
		t.Fatal("root cgroup not marked")
	}
	tbl.markHost(10)
	tbl.markHost(11)
	if want := map[uint64]bool{root: true, 10: true, 11: true}; !maps.Equal(hosts.marked, want) {
		t.Fatalf("marked %v, want %v", hosts.marked, want)
	}
	// A container's cgroup is never marked, however it is resolved.
	tbl.add(ctr("k8s.io", "a", 100, "sha256:aa"))
	if hosts.marked[100] {
		t.Error("a container's cgroup is marked as the host's")
	}

	for id := uint64(1000); len(tbl.host) < maxHostCache-1; id++ {
		tbl.markHost(id)
	}
	if len(hosts.marked) != maxHostCache {
		t.Fatalf("%d cgroups marked with a full cache, want %d (its own and the root)", len(hosts.marked), maxHostCache)
	}
	tbl.markHost(20)
	if want := map[uint64]bool{root: true, 20: true}; !maps.Equal(hosts.marked, want) {
		t.Fatalf("after the cache was full, marked %d cgroups, want %v", len(hosts.marked), want)
	}
	if _, ok := tbl.cached(10); ok {
		t.Error("cgroup 10 still cached as the host's after the cache was emptied")
	}
}
