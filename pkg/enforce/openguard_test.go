package enforce

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestOpenGuardKillsWhileNoListener enforces a profile's opens on a test
// cgroup's workload with no fanotify listener running (as while an agent
// restarts): a read of a file outside the profile, and a write of a file it
// allows only reading, kill the process before it reads or writes (137,
// nothing printed, the file unchanged) and are reported killed; allowed
// reads run. With the listener's heartbeat fresh the guard leaves opens to
// the listener; once it is stale (an agent that crashed) the guard kills
// again.
func TestOpenGuardKillsWhileNoListener(t *testing.T) {
	testutil.RequireRoot(t)
	k := newKernelFixture(t, HookOpen, func(cfg *sensor.Config, _ *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
		cfg.MaxLatency = 10 * time.Millisecond
	})
	killed := make(chan string, 64)
	go func() {
		for ev := range sensor.Merged(k.sensor) {
			if ev.Type == sensor.TypeOpen && ev.Flags.Has(sensor.FlagKilled) {
				killed <- ev.Open.Path
			}
		}
	}()
	dir := plainTempDir(t)
	ok, ro, secret := filepath.Join(dir, "ok"), filepath.Join(dir, "ro"), filepath.Join(dir, "secret")
	for _, f := range []string{ok, ro, secret} {
		if err := os.WriteFile(f, []byte(filepath.Base(f)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
	p.Spec.Files = []profile.FileEntry{{Path: ok, Access: profile.AccessRead}, {Path: ro, Access: profile.AccessRead}}
	k.apply(t, 9, profile.ModeEnforce, p)
	sh := startShell(t, k.cgroup)
	// Each attempt runs in a child shell: the kill is its, not the test's shell's.
	attempt := func(command string) (int, string) {
		t.Helper()
		return sh.run(t, "/bin/busybox sh -c '"+command+"'")
	}
	wantKilled := func(what, command, path string) {
		t.Helper()
		// "Killed" is the test's shell's report of its child.
		if rc, out := attempt(command); rc != 137 || out != "Killed\n" {
			t.Errorf("%s: rc %d, output %q; want killed (137) before it read or wrote", what, rc, out)
		}
		select {
		case got := <-killed:
			if got != path {
				t.Errorf("%s: reported killed for %s, want %s", what, got, path)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: no open reported killed", what)
		}
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
	wantKilled("a forbidden read, no listener", "/bin/busybox cat "+secret, secret)
	wantKilled("a write of a read-only file, no listener", "echo x >> "+ro, ro)
	if b, _ := os.ReadFile(ro); string(b) != "ro\n" {
		t.Errorf("the read-only file holds %q after its write was killed", b)
	}

	if err := k.kernel.ListenerBeat(true); err != nil {
		t.Fatal(err)
	}
	wantRan("a forbidden read, a listener judging", "/bin/busybox cat "+secret, "secret\n")
	time.Sleep(listenerStale + 50*time.Millisecond) // no beat since: the listener's agent died
	wantKilled("a forbidden read, the listener's heartbeat stale", "/bin/busybox cat "+secret, secret)
	select {
	case got := <-killed:
		t.Errorf("an extra kill reported: %s", got)
	case <-time.After(200 * time.Millisecond):
	}
}
