package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/pkg/trace"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestContainerAttribution runs real containers under containerd + runc with
// the real BPF sensor and checks that every event is attributed to its
// container, from the first instruction a container runs.
func TestContainerAttribution(t *testing.T) {
	testutil.RequireRoot(t)
	ns := fmt.Sprintf("vigil-e2e-%d", os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns)
	d := containerdtest.Start(t)
	busybox, probe := containerdtest.BusyboxImage(t), containerdtest.ProbeImage(t)
	d.Import(t, ns, busybox)
	d.Import(t, ns, probe)
	p := startPipeline(t, d, scope)

	long := d.Run(t, containerdtest.RunOptions{
		Image: busybox, Namespace: ns, Args: []string{"/bin/sleep", "3600"},
		Labels: containerdtest.CRILabels("web-7f9c", "shop", "uid-1234", "nginx"),
	})

	t.Run("long-running container", func(t *testing.T) {
		rec := p.waitFor(t, "the entrypoint's exec", inContainer(long.ID, sensor.TypeExec, func(ev *sensor.Event) bool {
			return ev.Exec.Filename == "/bin/sleep"
		}))
		c := rec.Attribution.Container
		if rec.Event.Exec.Path != "/bin/busybox" {
			t.Errorf("exec path = %q, want the applet symlink resolved to /bin/busybox", rec.Event.Exec.Path)
		}
		if c.ImageDigest != busybox.ManifestDigest.String() || c.Image != busybox.Name || c.Namespace != ns {
			t.Errorf("container = %+v, want image %s@%s in %s", c, busybox.Name, busybox.ManifestDigest, ns)
		}
		if c.PodName != "web-7f9c" || c.PodNamespace != "shop" || c.ContainerName != "nginx" || c.PodUID != "uid-1234" {
			t.Errorf("kubernetes identity = pod %q ns %q container %q uid %q", c.PodName, c.PodNamespace, c.ContainerName, c.PodUID)
		}
		j := trace.ToJSON(&rec)
		if j.Attribution != "container" || j.Container == nil || j.Container.ImageDigest != busybox.ManifestDigest.String() ||
			j.Container.Pod != "web-7f9c" || j.Container.Namespace != "shop" || j.Container.Name != "nginx" {
			t.Errorf("trace JSON container = %+v (%s)", j.Container, j.Attribution)
		}
		scopeID, ok, err := p.pipeline.Enforcement().Kernel().Scopes().Lookup(c.CgroupID)
		if err != nil || !ok || scopeID != c.Scope {
			t.Errorf("kernel scope map has %d, %v, %v for the container's cgroup, want %d", scopeID, ok, err, c.Scope)
		}
	})

	t.Run("task exec", func(t *testing.T) {
		code, out := long.Exec(t, "/bin/sh", "-c", "cat /etc/hostname; nc -w 1 127.0.0.1 4711 </dev/null; true")
		if code != 0 {
			t.Fatalf("exec: %d %s", code, out)
		}
		rec := p.waitFor(t, "the exec'd shell", inContainer(long.ID, sensor.TypeExec, func(ev *sensor.Event) bool {
			return ev.Exec.Filename == "/bin/sh"
		}))
		if len(rec.Ancestry) != 0 {
			t.Errorf("a task exec's shell has ancestry %+v inside the container, want none (its parent is the shim)", rec.Ancestry)
		}
		open := p.waitFor(t, "cat's open of /etc/hostname", inContainer(long.ID, sensor.TypeOpen, func(ev *sensor.Event) bool {
			return ev.Open.Path == "/etc/hostname" && ev.Comm == "cat"
		}))
		if len(open.Ancestry) == 0 || open.Ancestry[0].Comm != "sh" {
			t.Errorf("cat's ancestry = %+v, want the exec'd shell first", open.Ancestry)
		}
		conn := p.waitFor(t, "nc's connect", inContainer(long.ID, sensor.TypeConnect, func(ev *sensor.Event) bool {
			return ev.Connect.Port == 4711
		}))
		if conn.Event.Connect.Addr.String() != "127.0.0.1" {
			t.Errorf("connect address = %s", conn.Event.Connect.Addr)
		}
	})

	t.Run("short-lived container", func(t *testing.T) {
		out := t.TempDir()
		c := d.Run(t, containerdtest.RunOptions{
			Image: probe, Namespace: ns, Args: []string{"/probe", "cgroup", "/out/cgroup"},
			Binds: map[string]string{out: "/out"},
		})
		if code := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("probe exited %d: %s", code, c.Output.String())
		}
		rec := p.waitFor(t, "the probe's first exec", inContainer(c.ID, sensor.TypeExec, func(ev *sensor.Event) bool {
			return ev.Exec.Path == "/probe"
		}))
		if rec.Attribution.Container.ImageDigest != probe.ManifestDigest.String() {
			t.Errorf("digest = %s, want %s", rec.Attribution.Container.ImageDigest, probe.ManifestDigest)
		}
		p.waitFor(t, "the probe's exit", inContainer(c.ID, sensor.TypeExit, func(*sensor.Event) bool { return true }))
		b, err := os.ReadFile(filepath.Join(out, "cgroup"))
		if err != nil || !strings.Contains(string(b), c.ID) {
			t.Errorf("probe's own cgroup = %q, %v; want its container's", b, err)
		}
	})

	t.Run("same image twice", func(t *testing.T) {
		a := d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: ns, Args: []string{"/bin/true"}})
		b := d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: ns, Args: []string{"/bin/true"}})
		isTrue := func(ev *sensor.Event) bool { return ev.Exec.Filename == "/bin/true" }
		ra := p.waitFor(t, "first container's exec", inContainer(a.ID, sensor.TypeExec, isTrue))
		rb := p.waitFor(t, "second container's exec", inContainer(b.ID, sensor.TypeExec, isTrue))
		ca, cb := ra.Attribution.Container, rb.Attribution.Container
		if ca.ID == cb.ID || ca.CgroupID == cb.CgroupID || ca.ImageDigest != cb.ImageDigest {
			t.Errorf("two containers of one image: %s/%d/%s and %s/%d/%s; want distinct ids and cgroups, one digest",
				ca.ID, ca.CgroupID, ca.ImageDigest, cb.ID, cb.CgroupID, cb.ImageDigest)
		}
	})

	t.Run("containerd restarted", func(t *testing.T) {
		d.Restart(t)
		c := d.Run(t, containerdtest.RunOptions{Image: probe, Namespace: ns, Args: []string{"/probe", "cgroup", "/dev/null"}})
		rec := p.waitFor(t, "an exec after the restart", inContainer(c.ID, sensor.TypeExec, func(ev *sensor.Event) bool {
			return ev.Exec.Path == "/probe"
		}))
		if rec.Attribution.Container.ImageDigest != probe.ManifestDigest.String() {
			t.Errorf("digest after restart = %s", rec.Attribution.Container.ImageDigest)
		}
		// The long-running container is still known across the restart.
		code, out := long.Exec(t, "/bin/true")
		if code != 0 {
			t.Fatalf("exec after restart: %d %s", code, out)
		}
		p.waitFor(t, "an exec in the old container after the restart", inContainer(long.ID, sensor.TypeExec, func(ev *sensor.Event) bool {
			return ev.Exec.Filename == "/bin/true"
		}))
	})

	if un := p.unattributed(); len(un) > 0 {
		for _, r := range un {
			t.Logf("unattributed: %+v (%s %s)", r.Event, r.Attribution.Reason, r.Attribution.CgroupPath)
		}
		t.Errorf("%d events could not be attributed", len(un))
	}
}
