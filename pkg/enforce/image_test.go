package enforce

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// imageProfile allows the container's shell and the image content of
// /srv/site, and the capabilities the kernel checks for the shell: when it
// maps memory (CAP_SYS_ADMIN), and when overlayfs copies a file up for the
// write (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, with the mounter's
// credentials; issue 13 item 3).
func imageProfile() *profile.Profile {
	p := &profile.Profile{Metadata: profile.Metadata{Digest: agreeDigest, Version: 1}}
	p.Spec.Executables = []profile.ExecEntry{{Path: "/bin/busybox"}}
	p.Spec.Capabilities = []profile.CapabilityEntry{{Capability: unix.CAP_SYS_ADMIN}, {Capability: unix.CAP_DAC_OVERRIDE},
		{Capability: unix.CAP_DAC_READ_SEARCH}}
	p.Spec.Files = []profile.FileEntry{{Path: "/srv/site/**", Access: profile.AccessRead, Image: true}}
	return p
}

// imageCases: image files of /srv/site never read before (allowed), a file
// dropped there at run time, a write to an image file there, an image file
// elsewhere (not allowed). image is whether the file is image content when
// the open is judged.
func imageCases() []agreeCase {
	open := func(name, path string, flags int, image bool) agreeCase {
		ev := sensor.Event{Type: sensor.TypeOpen, Open: sensor.Open{Path: path, Flags: sensor.OpenFlags(flags)}}
		if image {
			ev.Flags = sensor.FlagImage
		}
		run := "/bin/busybox cat " + path
		if flags != unix.O_RDONLY {
			run = "/bin/busybox sh -c 'echo x >>" + path + "'"
		}
		return agreeCase{name, ev, run}
	}
	return []agreeCase{
		open("read an image file", "/srv/site/a.html", unix.O_RDONLY, true),
		open("read an image file below", "/srv/site/sub/b.html", unix.O_RDONLY, true),
		open("read a run-time file", "/srv/site/dropped.html", unix.O_RDONLY, false),
		open("write an image file", "/srv/site/w.html", unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND, true),
		open("read an image file elsewhere", "/srv/other.txt", unix.O_RDONLY, true),
	}
}

// TestTiersAgreeOnImageContent runs a container whose root is an overlay
// (its lower layer the image: busybox and a site) under the real
// controller: in monitor and enforce mode, an image entry lets the
// container read image files it never read before, and no tier lets a
// file dropped at run time or a write through as image content; every
// tier agrees with the monitor, and the kernel flags image content.
func TestTiersAgreeOnImageContent(t *testing.T) {
	testutil.RequireRoot(t)
	for _, mode := range []profile.Mode{profile.ModeMonitor, profile.ModeEnforce} {
		t.Run(string(mode), func(t *testing.T) { runImageAgreement(t, mode) })
	}
}

func runImageAgreement(t *testing.T, mode profile.Mode) {
	p, cases := imageProfile(), imageCases()
	world := startWorld(t, mode, p, func(sh *shell) { enterOverlay(t, sh) })
	results := make([]outcome, len(cases))
	for i, c := range cases {
		results[i].rc, results[i].output = world.shell.run(t, c.run)
	}
	events := world.settle(t)
	if compiled := compile(p); compiled.exact&HookOpen == 0 {
		t.Fatalf("the image entry is widened: %q", compiled.widened)
	}
	fanotify := false
	for _, ht := range world.ctl.Tiers() {
		fanotify = fanotify || ht.Hook == "open" && ht.Tier == TierFanotify
	}
	for i, c := range cases {
		got, allowed := results[i], monitorAllows(t, world.judge, world.ctr, c.ev)
		if want := mode == profile.ModeEnforce && fanotify && !allowed; got.refused() != want {
			t.Errorf("%s: the fanotify tier refused it: %v, want %v (rc %d, %q)", c.name, got.refused(), want, got.rc, got.output)
		}
		reported := slices.IndexFunc(events, func(ev sensor.Event) bool { return sameObservation(ev, c.ev) })
		if (reported >= 0) == allowed {
			t.Errorf("%s: the monitor allows it: %v; the kernel reported it: %v", c.name, allowed, reported >= 0)
		}
		// A write copies the file up before the system call returns; a
		// refused open has no file.
		if ev := events[max(reported, 0)]; reported >= 0 && ev.Open.Ret >= 0 && !c.ev.Open.Flags.Write() &&
			ev.Flags.Has(sensor.FlagImage) != c.ev.Flags.Has(sensor.FlagImage) {
			t.Errorf("%s: the kernel flagged it image content: %v, want %v", c.name, ev.Flags.Has(sensor.FlagImage), c.ev.Flags.Has(sensor.FlagImage))
		}
	}
	if !monitorAllows(t, world.judge, world.ctr, cases[0].ev) || monitorAllows(t, world.judge, world.ctr, cases[2].ev) {
		t.Error("the monitor does not tell image content from a run-time file")
	}
}

// enterOverlay makes the shell's root an overlay, as a container's: the
// lower layer holds busybox and the site, a file is dropped into the site
// at run time, and the host's root is unmounted from the namespace.
func enterOverlay(t *testing.T, sh *shell) {
	t.Helper()
	dir := plainTempDir(t)
	lower, upper, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"bin/busybox", busybox, 0o755}, {"srv/site/a.html", []byte("a\n"), 0o644}, {"srv/site/sub/b.html", []byte("b\n"), 0o644},
		{"srv/site/w.html", []byte("w\n"), 0o644}, {"srv/other.txt", []byte("o\n"), 0o644},
	} {
		path := filepath.Join(lower, f.path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Join(lower, "oldroot"), filepath.Join(lower, "tmp"), upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range []string{
		"/bin/busybox mount --make-rprivate /",
		"/bin/busybox mount -t overlay overlay -o lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + " " + merged,
		"cd " + merged + " && /bin/busybox pivot_root . oldroot && cd /",
		"/bin/busybox umount -l /oldroot",
		"/bin/busybox sh -c 'echo dropped >/srv/site/dropped.html'",
	} {
		if rc, out := sh.run(t, cmd); rc != 0 {
			t.Fatalf("%s: rc %d, %s", cmd, rc, out)
		}
	}
}
