package containers

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ctrdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

var sleepArgs = []string{"sleep", "3600"}

func TestInventoryOfRunningContainers(t *testing.T) {
	testutil.RequireRoot(t)
	d, bb, probe := imported(t)
	d.Import(t, "default", bb)
	web := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs, Labels: ctrdtest.CRILabels("web-1", "shop", "uid-1", "nginx")})
	job := d.Run(t, ctrdtest.RunOptions{Image: probe})
	plain := d.Run(t, ctrdtest.RunOptions{Image: bb, Namespace: "default", ID: "plain", Args: sleepArgs})
	stopped := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: []string{"true"}})
	stopped.Wait(t, waitTimeout)

	rr := startResolver(t, d.Address)
	waitConnected(t, rr)
	if _, nss := rr.connection(); !slices.Equal(nss, []string{"k8s.io", "default"}) {
		t.Errorf("namespaces %q, want k8s.io first", nss)
	}
	got := map[string]*Container{}
	for _, c := range rr.Containers() {
		got[c.Namespace+"/"+c.ID] = c
	}
	if len(got) != 3 {
		t.Fatalf("inventory has %d containers, want the 3 running: %v", len(got), got)
	}
	for _, tc := range []struct {
		c      *ctrdtest.Container
		img    ctrdtest.Image
		podUID string
	}{{web, bb, "uid-1"}, {job, probe, ""}, {plain, bb, ""}} {
		c := got[tc.c.Namespace+"/"+tc.c.ID]
		if c == nil {
			t.Fatalf("%s/%s missing from the inventory", tc.c.Namespace, tc.c.ID)
		}
		if c.Source != SourceInventory || c.ImageDigest != tc.img.ManifestDigest.String() ||
			c.ImageConfigDigest != tc.img.ConfigDigest.String() || c.Image != tc.img.Name || c.PodUID != tc.podUID {
			t.Errorf("inventory record %+v, want image %s@%s (config %s), pod uid %q", c, tc.img.Name, tc.img.ManifestDigest, tc.img.ConfigDigest, tc.podUID)
		}
		if id := cgroupIDOf(t, rr, containerPath(tc.c)); c.CgroupID != id {
			t.Errorf("%s: cgroup id %d, want %d", c.ID, c.CgroupID, id)
		}
		if s, ok := rr.scopes.get(c.CgroupID); !ok || s != c.Scope {
			t.Errorf("%s: scope table has %d, %v; want %d", c.ID, s, ok, c.Scope)
		}
	}
}

func TestLongRunningContainerAndExec(t *testing.T) {
	testutil.RequireRoot(t)
	d, bb, probe := imported(t)
	rr := startResolver(t, d.Address)
	waitConnected(t, rr)

	ctr := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	id := cgroupIDOf(t, rr, containerPath(ctr))
	c := known(t, rr, id)
	if c.ID != ctr.ID || c.Namespace != ctrdtest.DefaultNamespace || c.ImageDigest != bb.ManifestDigest.String() || c.Image != bb.Name {
		t.Fatalf("resolved %+v, want %s with image %s@%s", c, ctr.ID, bb.Name, bb.ManifestDigest)
	}
	if c.Source != SourceEvent || c.CreatedAt.IsZero() || c.PID == 0 {
		t.Errorf("learned from %q, created at %v, pid %d: want from the /tasks/create event", c.Source, c.CreatedAt, c.PID)
	}

	code, out := ctr.Exec(t, "cat", "/proc/self/cgroup")
	if code != 0 {
		t.Fatalf("exec exited %d: %s", code, out)
	}
	execPath := cgroup2Line(t, out)
	if a := lookup(t, rr, cgroupIDOf(t, rr, execPath)); a.Kind != InContainer || a.Container != c {
		t.Fatalf("exec'd process in %s attributed %v %+v, want the container", execPath, a.Kind, a.Container)
	}

	// The exec's exit is not the task's: events are handled in order, so once
	// a later container is known, that exit was handled too.
	later := d.Run(t, ctrdtest.RunOptions{Image: probe})
	known(t, rr, cgroupIDOf(t, rr, containerPath(later)))
	if !rr.tbl.isLive(key{c.Namespace, c.ID}) {
		t.Error("an exec's exit retired the container")
	}
	if s, ok := rr.scopes.get(id); !ok || s != c.Scope {
		t.Errorf("scope table has %d, %v for the container after the exec; want %d", s, ok, c.Scope)
	}

	ctr.Kill(t)
	waitFor(t, "the task exit to leave the scope table", func() bool { _, ok := rr.scopes.get(id); return !ok })
	if a := lookup(t, rr, id); a.Kind != InContainer || a.Container != c {
		t.Errorf("exited container no longer attributed within the linger time: %v", a.Kind)
	}
}

func TestShortLivedContainer(t *testing.T) {
	testutil.RequireRoot(t)
	d, _, probe := imported(t)
	rr := startResolver(t, d.Address)
	waitConnected(t, rr)

	out := t.TempDir()
	ctr := d.Run(t, ctrdtest.RunOptions{
		Image: probe, Args: []string{"/probe", "cgroup", "/out/cgroup"}, Binds: map[string]string{out: "/out"},
	})
	if code := ctr.Wait(t, waitTimeout); code != 0 {
		t.Fatalf("probe exited %d: %s", code, ctr.Output.String())
	}
	report, err := os.ReadFile(filepath.Join(out, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	// The cgroup the entrypoint itself ran in, as it saw it: its id is what
	// every kernel event of its first instruction carries.
	own := cgroup2Line(t, string(report))
	id := cgroupIDOf(t, rr, own) // still there: the task is not deleted yet
	a := lookup(t, rr, id)
	if a.Kind != InContainer || a.Container.ID != ctr.ID || a.Container.ImageDigest != probe.ManifestDigest.String() {
		t.Fatalf("entrypoint's cgroup %s attributed %v %+v, want %s with digest %s", own, a.Kind, a.Container, ctr.ID, probe.ManifestDigest)
	}
	c := a.Container
	t.Logf("known via %s, %v after containerd's /tasks/create event", c.Source, c.KnownAt.Sub(c.CreatedAt))
	// The kernel's table had the container's cgroup (until the exit removed it).
	if want := fmt.Sprintf("set %d=%d", id, c.Scope); !slices.Contains(rr.scopes.ops(), want) {
		t.Errorf("scope table history %q lacks %q", rr.scopes.ops(), want)
	}
}

func TestSameImageSharesDigest(t *testing.T) {
	testutil.RequireRoot(t)
	d, bb, _ := imported(t)
	rr := startResolver(t, d.Address)
	waitConnected(t, rr)
	one := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	two := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	a := known(t, rr, cgroupIDOf(t, rr, containerPath(one)))
	b := known(t, rr, cgroupIDOf(t, rr, containerPath(two)))
	if a.ImageDigest != b.ImageDigest || a.ImageDigest != bb.ManifestDigest.String() {
		t.Errorf("digests %s and %s, want both %s", a.ImageDigest, b.ImageDigest, bb.ManifestDigest)
	}
	if a.ID == b.ID || a.CgroupID == b.CgroupID || a.Scope == b.Scope {
		t.Errorf("two containers share id, cgroup or scope: %+v %+v", a, b)
	}
}

func TestCRILabelsGivePodIdentity(t *testing.T) {
	testutil.RequireRoot(t)
	d, bb, probe := imported(t)
	rr := startResolver(t, d.Address)
	waitConnected(t, rr)
	sandboxLabels := ctrdtest.CRILabels("web-7f9c", "shop", "3b1f-uid", "")
	sandboxLabels["io.cri-containerd.kind"] = "sandbox"
	delete(sandboxLabels, "io.kubernetes.container.name")
	sandbox := d.Run(t, ctrdtest.RunOptions{Image: probe, Labels: sandboxLabels})
	app := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs, Labels: ctrdtest.CRILabels("web-7f9c", "shop", "3b1f-uid", "nginx")})

	c := known(t, rr, cgroupIDOf(t, rr, containerPath(app)))
	if c.PodName != "web-7f9c" || c.PodNamespace != "shop" || c.PodUID != "3b1f-uid" || c.ContainerName != "nginx" || c.Sandbox {
		t.Errorf("app container identity %+v", c)
	}
	s := known(t, rr, cgroupIDOf(t, rr, containerPath(sandbox)))
	if !s.Sandbox || s.PodName != "web-7f9c" || s.ContainerName != "" {
		t.Errorf("sandbox identity %+v", s)
	}
}

// cgroup2Line returns the cgroup2 path in /proc/PID/cgroup contents.
func cgroup2Line(t testing.TB, procCgroup string) string {
	t.Helper()
	for line := range strings.SplitSeq(procCgroup, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	t.Fatalf("no cgroup2 line in %q", procCgroup)
	return ""
}
