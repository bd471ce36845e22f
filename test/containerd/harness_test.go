package containerdtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	ctrdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

func TestImagesAreDeterministicAndDistinct(t *testing.T) {
	a, b := ctrdtest.BusyboxImage(t), ctrdtest.BusyboxImage(t)
	if a.ManifestDigest != b.ManifestDigest || a.ConfigDigest != b.ConfigDigest {
		t.Fatalf("busybox image not deterministic: %s/%s vs %s/%s", a.ManifestDigest, a.ConfigDigest, b.ManifestDigest, b.ConfigDigest)
	}
	p := ctrdtest.ProbeImage(t)
	if p.ManifestDigest == a.ManifestDigest || p.ConfigDigest == a.ConfigDigest {
		t.Fatalf("probe and busybox images share a digest: %s/%s", p.ManifestDigest, p.ConfigDigest)
	}
	for _, img := range []ctrdtest.Image{a, p} {
		if err := img.ManifestDigest.Validate(); err != nil {
			t.Errorf("%s: manifest digest %q: %v", img.Name, img.ManifestDigest, err)
		}
	}
}

func TestDaemonRunsExecsAndRestarts(t *testing.T) {
	testutil.RequireRoot(t)
	d := ctrdtest.Start(t)
	bb, probe := ctrdtest.BusyboxImage(t), ctrdtest.ProbeImage(t)
	d.Import(t, ctrdtest.DefaultNamespace, bb)
	d.Import(t, ctrdtest.DefaultNamespace, probe)

	out := t.TempDir()
	short := d.Run(t, ctrdtest.RunOptions{
		Image: probe,
		Args:  []string{"/probe", "cgroup", "/out/cgroup"},
		Binds: map[string]string{out: "/out"},
	})
	if code := short.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("probe exited %d: %s", code, short.Output.String())
	}
	cg, err := os.ReadFile(filepath.Join(out, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	want := "0::/" + ctrdtest.DefaultNamespace + "/" + short.ID
	if !strings.Contains(string(cg), want) {
		t.Fatalf("probe's /proc/self/cgroup = %q, want a line %q", cg, want)
	}

	long := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: []string{"sleep", "3600"}})
	code, output := long.Exec(t, "sh", "-c", "echo hello; exit 3")
	if code != 3 || strings.TrimSpace(output) != "hello" {
		t.Fatalf("exec = %d %q, want 3 \"hello\"", code, output)
	}

	d.Restart(t)
	code, output = long.Exec(t, "cat", "/proc/self/cgroup")
	if code != 0 || !strings.Contains(output, long.ID) {
		t.Fatalf("exec after restart = %d %q, want the container's cgroup", code, output)
	}

	c := d.Client(t)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ctrdtest.DefaultNamespace), time.Minute)
	defer cancel()
	img, err := c.GetImage(ctx, bb.Name)
	if err != nil {
		t.Fatal(err)
	}
	if img.Target().Digest != bb.ManifestDigest {
		t.Fatalf("containerd has %s at %s, built %s", bb.Name, img.Target().Digest, bb.ManifestDigest)
	}
}

// fatalRecorder records a Fatalf instead of stopping the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestMissingBinariesAreNamed(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	rec := &fatalRecorder{TB: t}
	ctrdtest.RequireBinaries(rec)
	for _, want := range []string{"containerd-shim-runc-v2", "runc", "test/deps.sh test"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("message %q does not name %q", rec.msg, want)
		}
	}
}
