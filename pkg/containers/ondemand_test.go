package containers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	ctrdtest "github.com/vigil-dev/vigil/test/containerd"
	vtestutil "github.com/vigil-dev/vigil/test/testutil"
)

// A kernel event can reach Lookup before the resolver handled the
// container's /tasks/create event. Here the resolver is connected but does
// not follow events at all, so only the on-demand path can answer.
func TestLookupResolvesOnDemand(t *testing.T) {
	vtestutil.RequireRoot(t)
	d, bb, _ := imported(t)
	rr := newTestResolver(t, d.Address)
	rr.setConnection(d.Client(t), []string{ctrdtest.DefaultNamespace})

	// Created, not started: runc init holds the process in the container's
	// cgroup before the entrypoint, as at /tasks/create.
	ctr := d.Create(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs, Labels: ctrdtest.CRILabels("p", "ns", "u", "c")})
	id := cgroupIDOf(t, rr, containerPath(ctr))
	a := lookup(t, rr, id)
	if a.Kind != InContainer || a.Container.ID != ctr.ID || a.Container.Source != SourceOnDemand ||
		a.Container.ImageDigest != bb.ManifestDigest.String() || a.Container.PodName != "p" {
		t.Fatalf("on-demand lookup = %v %+v, want %s with digest %s", a.Kind, a.Container, ctr.ID, bb.ManifestDigest)
	}
	if s, ok := rr.scopes.get(id); !ok || s != a.Container.Scope {
		t.Errorf("scope table has %d, %v; want %d", s, ok, a.Container.Scope)
	}
	if again := lookup(t, rr, id); again.Container != a.Container {
		t.Error("second lookup did not answer from memory")
	}

	// A cgroup the container makes inside its own belongs to it.
	nested := mkCgroup(t, rr, containerPath(ctr)+"/inner")
	if a := lookup(t, rr, nested); a.Kind != InContainer || a.Container.ID != ctr.ID {
		t.Errorf("nested cgroup attributed %v %+v, want the container", a.Kind, a.Container)
	}

	// This process runs in the root cgroup: the host.
	self, err := cgroup.OfProcess("/proc", uint32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if a := lookup(t, rr, cgroupIDOf(t, rr, self)); a.Kind != Host {
		t.Errorf("this test process (cgroup %s) attributed %v, want host", self, a.Kind)
	}
	hostLike := mkCgroup(t, rr, "/vigil-test-"+ctrdtest.RandomID()[:8]+".service")
	if a := lookup(t, rr, hostLike); a.Kind != Host {
		t.Errorf("service cgroup attributed %v, want host", a.Kind)
	}

	// Container-like, but no such container: unattributed, counted per event.
	orphanPath := "/" + ctrdtest.DefaultNamespace + "/" + ctrdtest.RandomID()
	orphan := mkCgroup(t, rr, orphanPath)
	for range 2 {
		if a := lookup(t, rr, orphan); a.Kind != Unattributed || a.Reason != reasonUnresolved || a.CgroupPath != orphanPath {
			t.Errorf("orphan cgroup attributed %+v, want unattributed/%s at %s", a, reasonUnresolved, orphanPath)
		}
	}
	if got := counter(rr, rr.m.unattributed, reasonUnresolved); got != 2 {
		t.Errorf("unattributed_total{reason=unresolved} = %v, want 2", got)
	}

	// A cgroup removed before the lookup: its path cannot be found.
	gonePath := filepath.Join(rr.cg.Mountpoint(), ctrdtest.DefaultNamespace, ctrdtest.RandomID())
	if err := os.Mkdir(gonePath, 0o755); err != nil {
		t.Fatal(err)
	}
	gone, err := cgroup.ID(gonePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gonePath); err != nil {
		t.Fatal(err)
	}
	if a := lookup(t, rr, gone); a.Kind != Unattributed || a.Reason != reasonCgroupGone {
		t.Errorf("removed cgroup attributed %+v, want unattributed/%s", a, reasonCgroupGone)
	}
	if got := testutil.ToFloat64(rr.m.onDemand.WithLabelValues("container")); got != 2 {
		t.Errorf("on_demand_total{kind=container} = %v, want 2 (the container and its nested cgroup)", got)
	}
}

// The id-to-path direction must agree with the path-to-id direction on the
// real cgroup2 mount, for both cgroup drivers' layouts.
func TestCgroupIDsRoundTrip(t *testing.T) {
	vtestutil.RequireRoot(t)
	rr := newTestResolver(t, filepath.Join(t.TempDir(), "none.sock"))
	id := ctrdtest.RandomID()
	systemd, err := specCgroupPath("vigiltest-pod1.slice:cri-containerd:" + id)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{systemd, "/vigiltest-kubepods/besteffort/pod1/" + id} {
		t.Cleanup(func() { removeEmptyParents(t, rr, p) }) // after mkCgroup's cleanup of the leaf
		want := mkCgroup(t, rr, p)
		got, err := rr.cg.ID(p)
		if err != nil || got != want {
			t.Errorf("idOf(%s) = %d, %v; want %d", p, got, err, want)
		}
		back, err := rr.cg.Path(want)
		if err != nil || back != p {
			t.Errorf("pathOf(%d) = %q, %v; want %q", want, back, err, p)
		}
	}
	if p, err := rr.cg.Path(rr.cg.RootID()); err != nil || p != "/" {
		t.Errorf("pathOf(root) = %q, %v", p, err)
	}
}

// removeEmptyParents removes the parent cgroups mkCgroup's MkdirAll made for
// p; register it before mkCgroup, so that it runs after the leaf is removed.
func removeEmptyParents(t testing.TB, rr *running, p string) {
	for dir := filepath.Dir(p); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if err := os.Remove(filepath.Join(rr.cg.Mountpoint(), dir)); err != nil {
			t.Errorf("remove parent cgroup %s: %v", dir, err)
			return
		}
	}
}
