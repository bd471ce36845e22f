package enforce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestOpenGuardKillsWhileNoListener enforces a profile's opens on a test
// cgroup's workload with no fanotify listener running (as while an agent
// restarts), with opens seen where this kernel lets the sensor see them: a
// read of a file outside the profile, and a write of a file it allows only
// reading, kill the process before it reads or writes (137, nothing
// printed, the file unchanged) and are reported once, killed; allowed reads
// run. With the listener's heartbeat fresh the guard leaves opens to the
// listener (a forbidden open that got through is reported once, not
// killed); once it is stale (an agent that crashed) the guard kills again.
// With a profile the kernel enforces widened, whose opens all go to
// userspace, an allowed read is reported once, not killed, and the others
// as with an exact one.
func TestOpenGuardKillsWhileNoListener(t *testing.T) {
	testutil.RequireRoot(t)
	testOpenGuard(t, "")
}

// TestOpenGuardFexitInVM runs TestOpenGuardFexit in the test VM, whose
// kernel loads the BPF trampolines this host refuses.
func TestOpenGuardFexitInVM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RunInVM(t, ".", "^TestOpenGuardFexit$", "TestOpenGuardFexit")
}

// TestOpenGuardFexit is TestOpenGuardKillsWhileNoListener with opens seen
// at fexit/do_sys_openat2 and enforced by the fanotify tier (trampolines
// without BPF LSM: Azure Linux's nodes), where the sensor's handler runs
// before the guard's sys_exit program.
func TestOpenGuardFexit(t *testing.T) {
	testutil.RequireVMGuest(t)
	testutil.RequireRoot(t)
	testOpenGuard(t, "fexit/do_sys_openat2")
}

// testOpenGuard runs the guard's checks with opens seen at attach, or
// wherever the kernel lets the sensor see them when attach is "", with an
// exact profile and a widened one.
func testOpenGuard(t *testing.T, attach string) {
	t.Run("exact", func(t *testing.T) { testOpenGuardProfile(t, attach, false) })
	t.Run("widened", func(t *testing.T) { testOpenGuardProfile(t, attach, true) })
}

func testOpenGuardProfile(t *testing.T, attach string, widened bool) {
	k := newKernelFixture(t, HookOpen, func(cfg *sensor.Config, _ *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
		cfg.MaxLatency = 10 * time.Millisecond
	})
	for _, h := range k.sensor.Hooks() {
		if h.Type == sensor.TypeOpen && attach != "" && h.Attach != attach {
			t.Fatalf("the sensor sees opens at %s (%s), want %s", h.Attach, h.Reason, attach)
		}
	}
	dir := plainTempDir(t)
	opens := make(chan sensor.Event, 64)
	go func() {
		for ev := range sensor.Merged(k.sensor) {
			if ev.Type == sensor.TypeOpen && strings.HasPrefix(ev.Open.Path, dir+"/") {
				opens <- ev
			}
		}
	}()
	ok, ro, secret := filepath.Join(dir, "ok"), filepath.Join(dir, "ro"), filepath.Join(dir, "secret")
	for _, f := range []string{ok, ro, secret} {
		if err := os.WriteFile(f, []byte(filepath.Base(f)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
	p.Spec.Files = []profile.FileEntry{{Path: ok, Access: profile.AccessRead}, {Path: ro, Access: profile.AccessRead}}
	if widened { // a volatile name written out matches every such name in the kernel
		p.Spec.Files = append(p.Spec.Files, profile.FileEntry{Path: filepath.Join(dir, "12345"), Access: profile.AccessRead})
	}
	k.apply(t, 9, profile.ModeEnforce, p)
	sh := startShell(t, k.cgroup)
	// Each attempt runs in a child shell: the kill is its, not the test's shell's.
	attempt := func(command string) (int, string) {
		t.Helper()
		return sh.run(t, "/bin/busybox sh -c '"+command+"'")
	}
	// reportedOnce checks that the sensor reported exactly one open, of
	// path, killed or not as killed says.
	reportedOnce := func(what, path string, killed bool) {
		t.Helper()
		var got []sensor.Event
		wait := time.After(5 * time.Second)
	collect:
		for {
			select {
			case ev := <-opens:
				got = append(got, ev)
				wait = time.After(300 * time.Millisecond) // room for a second report
			case <-wait:
				break collect
			}
		}
		if len(got) != 1 || got[0].Open.Path != path || got[0].Flags.Has(sensor.FlagKilled) != killed {
			var desc []string
			for _, ev := range got {
				desc = append(desc, ev.Open.Path+" killed="+map[bool]string{true: "yes", false: "no"}[ev.Flags.Has(sensor.FlagKilled)])
			}
			t.Errorf("%s: reported %v; want %s once, killed=%v", what, desc, path, killed)
		}
	}
	wantKilled := func(what, command, path string) {
		t.Helper()
		// "Killed" is the test's shell's report of its child.
		if rc, out := attempt(command); rc != 137 || out != "Killed\n" {
			t.Errorf("%s: rc %d, output %q; want killed (137) before it read or wrote", what, rc, out)
		}
		reportedOnce(what, path, true)
	}
	wantRan := func(what, command, want string) {
		t.Helper()
		if rc, out := attempt(command); rc != 0 || out != want {
			t.Errorf("%s: rc %d, output %q; want it to run and print %q", what, rc, out, want)
		}
	}

	if err := k.kernel.ListenerBeat(false); err != nil {
		t.Fatal(err)
	}
	wantRan("an allowed read, no listener", "/bin/busybox cat "+ok, "ok\n")
	if widened {
		reportedOnce("an allowed read, no listener", ok, false)
	}
	wantKilled("a forbidden read, no listener", "/bin/busybox cat "+secret, secret)
	wantKilled("a write of a read-only file, no listener", "echo x >> "+ro, ro)
	if b, _ := os.ReadFile(ro); string(b) != "ro\n" {
		t.Errorf("the read-only file holds %q after its write was killed", b)
	}

	if err := k.kernel.ListenerBeat(true); err != nil {
		t.Fatal(err)
	}
	wantRan("a forbidden read, a listener judging", "/bin/busybox cat "+secret, "secret\n")
	reportedOnce("a forbidden read, a listener judging", secret, false)
	time.Sleep(listenerStale + 50*time.Millisecond) // no beat since: the listener's agent died
	wantKilled("a forbidden read, the listener's heartbeat stale", "/bin/busybox cat "+secret, secret)
}
