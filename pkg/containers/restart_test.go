package containers

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	ctrdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// containerd goes away and comes back: known containers stay attributed
// meanwhile, what happened while it was away is recovered by the new
// inventory, and new containers are resolved again.
func TestContainerdRestart(t *testing.T) {
	testutil.RequireRoot(t)
	d, bb, probe := imported(t)
	rr := startResolver(t, d.Address)
	waitConnected(t, rr)
	keep := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	dies := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	keepID := cgroupIDOf(t, rr, containerPath(keep))
	diesID := cgroupIDOf(t, rr, containerPath(dies))
	kept := known(t, rr, keepID)
	known(t, rr, diesID)

	d.Stop(t)
	waitFor(t, "the resolver to notice containerd left", func() bool { return !rr.Connected() })
	if got := counter(rr, rr.m.connectionErrors, connLost); got != 1 {
		t.Errorf("connection_errors_total{reason=lost} = %v, want 1", got)
	}
	if a := lookup(t, rr, keepID); a.Kind != InContainer || a.Container != kept {
		t.Errorf("known container attributed %v while containerd is away, want it", a.Kind)
	}
	// The container dies while nobody is watching.
	if err := syscall.Kill(int(dies.Task.Pid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	d.Restart(t)
	waitConnected(t, rr)
	waitFor(t, "the missed exit to leave the scope table", func() bool { _, ok := rr.scopes.get(diesID); return !ok })
	if s, ok := rr.scopes.get(keepID); !ok || s != kept.Scope {
		t.Errorf("surviving container: scope table has %d, %v; want %d", s, ok, kept.Scope)
	}
	if c := rr.tbl.get(keepID); c != kept {
		t.Errorf("surviving container re-learned as %+v, want the record kept", c)
	}

	fresh := d.Run(t, ctrdtest.RunOptions{Image: probe})
	c := known(t, rr, cgroupIDOf(t, rr, containerPath(fresh)))
	if c.Source != SourceEvent || c.ImageDigest != probe.ManifestDigest.String() {
		t.Errorf("container after restart learned via %s with digest %s, want the event and %s", c.Source, c.ImageDigest, probe.ManifestDigest)
	}
}

// A container whose image is gone is still attributed by id, with its digest
// unknown; so is one whose image name now points to another image.
func TestImageDeletedOrMovedDigestUnknown(t *testing.T) {
	testutil.RequireRoot(t)
	d, bb, probe := imported(t)
	orphan := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	moved := d.Run(t, ctrdtest.RunOptions{Image: probe})

	cl := d.Client(t)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ctrdtest.DefaultNamespace), time.Minute)
	defer cancel()
	bbImage, err := cl.ImageService().Get(ctx, bb.Name)
	if err != nil {
		t.Fatal(err)
	}
	// The probe's name now points to the busybox image, then busybox's own
	// name is deleted (its content stays, referenced by the moved name).
	if _, err := cl.ImageService().Update(ctx, images.Image{Name: probe.Name, Target: bbImage.Target}, "target"); err != nil {
		t.Fatal(err)
	}
	d.DeleteImage(t, ctrdtest.DefaultNamespace, bb.Name)

	rr := startResolver(t, d.Address)
	waitConnected(t, rr)
	for _, tc := range []struct {
		c    *ctrdtest.Container
		name string
	}{{orphan, bb.Name}, {moved, probe.Name}} {
		c := known(t, rr, cgroupIDOf(t, rr, containerPath(tc.c)))
		if c.ID != tc.c.ID || c.Image != tc.name || c.ImageDigest != UnknownDigest || c.ImageConfigDigest != UnknownDigest || c.HasImageDigest() {
			t.Errorf("resolved %+v, want id %s, image %s, digests %q", c, tc.c.ID, tc.name, UnknownDigest)
		}
	}
	if got := counterValue(rr.m.unknownDigests); got != 2 {
		t.Errorf("image_digest_unknown_total = %v, want 2", got)
	}

	// Imported again, the image gives containers created from it their digest
	// (learned from the event); the orphan keeps its unknown one.
	d.Import(t, ctrdtest.DefaultNamespace, bb)
	late := d.Create(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	if c := known(t, rr, cgroupIDOf(t, rr, containerPath(late))); c.ImageDigest != bb.ManifestDigest.String() {
		t.Errorf("re-imported image: digest %s, want %s", c.ImageDigest, bb.ManifestDigest)
	}
	if c := rr.tbl.get(cgroupIDOf(t, rr, containerPath(orphan))); c.ImageDigest != UnknownDigest {
		t.Errorf("orphan's digest became %s after the re-import, want it kept unknown", c.ImageDigest)
	}
}
