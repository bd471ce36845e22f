package containerdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/vigil-dev/vigil/test/containerd/ctrd"
	"github.com/vigil-dev/vigil/test/testenv"
)

// probePackage is the static Go program of ProbeImage.
const probePackage = "github.com/vigil-dev/vigil/test/containerd/probe"

// Image names. Both images are named like registry images (with a domain) so
// containerd keeps the names as given.
const (
	BusyboxImageName = "vigil.test/busybox:1"
	ProbeImageName   = "vigil.test/probe:1"
)

// Image is a test image built as an OCI image-layout tar.
type Image = ctrd.Image

// BusyboxImage builds the busybox image: /bin/busybox from busybox-static and
// a /bin symlink per applet; its default command is /bin/sh.
func BusyboxImage(t testing.TB) Image {
	t.Helper()
	return BusyboxImageWith(t, BusyboxImageName)
}

// BusyboxImageWith builds the busybox image named name with extra files
// added: another digest of the same programs (another version of an
// image, or another image that runs them).
func BusyboxImageWith(t testing.TB, name string, extra ...ctrd.File) Image {
	t.Helper()
	files, err := ctrd.BusyboxFiles()
	testenv.RequireInstalled(t, "busybox-static", err)
	files = append(append(files, ctrd.RuntimeDirs()...), extra...)
	img, err := ctrd.BuildImage(t.TempDir(), name, files, []string{"/bin/sh"})
	if err != nil {
		t.Fatalf("containerd harness: busybox image %s: %v", name, err)
	}
	return img
}

// ProbeImage builds an image whose only binary is /probe, the static Go
// program in test/containerd/probe (built here with CGO_ENABLED=0); its
// default command is `/probe sleep`. It shares no file with BusyboxImage.
func ProbeImage(t testing.TB) Image {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("containerd harness: the probe image needs the go tool on PATH: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command(goBin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, probePackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("containerd harness: build probe: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("containerd harness: %v", err)
	}
	files := append(ctrd.RuntimeDirs(), ctrd.File{Path: "probe", Mode: 0o755, Data: data})
	img, err := ctrd.BuildImage(dir, ProbeImageName, files, []string{"/probe", "sleep"})
	if err != nil {
		t.Fatalf("containerd harness: probe image: %v", err)
	}
	return img
}

// Import imports img into namespace ns and unpacks it for the default
// snapshotter. It fails the test unless containerd records the manifest
// digest the builder computed.
func (d *Daemon) Import(t testing.TB, ns string, img Image) {
	t.Helper()
	c := d.Client(t)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	f, err := os.Open(img.Tar)
	if err != nil {
		t.Fatalf("containerd harness: %v", err)
	}
	defer f.Close()
	imgs, err := c.Import(ctx, f)
	if err != nil {
		t.Fatalf("containerd harness: import %s: %v", img.Name, err)
	}
	var found bool
	for _, got := range imgs {
		if got.Name != img.Name {
			continue
		}
		found = true
		if got.Target.Digest != img.ManifestDigest {
			t.Fatalf("containerd harness: %s imported with digest %s, built with %s", img.Name, got.Target.Digest, img.ManifestDigest)
		}
		if err := client.NewImage(c, got).Unpack(ctx, ""); err != nil {
			t.Fatalf("containerd harness: unpack %s: %v", img.Name, err)
		}
	}
	if !found {
		t.Fatalf("containerd harness: import of %s gave %v, not the image", img.Tar, imageNames(imgs))
	}
}

// DeleteImage removes the image named name from namespace ns, synchronously.
func (d *Daemon) DeleteImage(t testing.TB, ns, name string) {
	t.Helper()
	c := d.Client(t)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	if err := c.ImageService().Delete(ctx, name, images.SynchronousDelete()); err != nil {
		t.Fatalf("containerd harness: delete image %s: %v", name, err)
	}
}

func imageNames(imgs []images.Image) []string {
	names := make([]string, 0, len(imgs))
	for _, i := range imgs {
		names = append(names, fmt.Sprintf("%s@%s", i.Name, i.Target.Digest))
	}
	return names
}
