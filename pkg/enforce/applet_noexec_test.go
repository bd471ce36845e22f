package enforce

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestNoexecAppletJudged runs Debian's busybox shell as a container's
// workload whose profile allows busybox only as sh (and as seq in the
// second profile). The shell runs NOEXEC applets such as seq in a forked
// child without an exec (it only renames the child): the applet must be
// judged anyway, killed before it prints anything when the profile does
// not allow it, and reported as an exec of busybox as that applet; an
// applet the profile allows runs. cat, which the shell execs, is killed by
// the exec hook as before.
func TestNoexecAppletJudged(t *testing.T) {
	testutil.RequireRoot(t)
	k := newKernelFixture(t, HookExec, func(cfg *sensor.Config, _ *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeExec)
		cfg.MaxLatency = 10 * time.Millisecond
	})
	killed := make(chan string, 64)
	go func() {
		for ev := range sensor.Merged(k.sensor) {
			if ev.Type == sensor.TypeExec && ev.Flags.Has(sensor.FlagKilled) {
				killed <- profile.Applet(ev.Exec.Argv, false)
			}
		}
	}()
	busybox, err := filepath.EvalSymlinks("/bin/busybox") // the path the kernel sees
	if err != nil {
		t.Fatal(err)
	}
	profileOf := func(applets ...string) *profile.Profile {
		p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
		for _, a := range applets {
			p.Spec.Executables = append(p.Spec.Executables, profile.ExecEntry{Path: busybox, As: a})
		}
		return p
	}
	wantKilled := func(sh *shell, command, applet string) {
		t.Helper()
		if rc, out := sh.run(t, command); rc != 137 || out != "Killed\n" {
			t.Errorf("%q: rc %d, output %q; want killed (137) before it ran", command, rc, out)
		}
		select {
		case got := <-killed:
			if got != applet {
				t.Errorf("%q: reported killed as %q, want %q", command, got, applet)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%q: no exec reported killed", command)
		}
	}

	k.apply(t, 11, profile.ModeEnforce, profileOf("sh"))
	sh := startShell(t, k.cgroup)
	wantKilled(sh, "seq 1 2", "seq")       // NOEXEC: forked, renamed, never exec'd
	wantKilled(sh, "cat /dev/null", "cat") // exec'd through /proc/self/exe
	if rc, out := sh.run(t, "echo still here"); rc != 0 || out != "still here\n" {
		t.Errorf("the shell after the kills: rc %d, output %q", rc, out)
	}

	k.apply(t, 12, profile.ModeEnforce, profileOf("sh", "seq"))
	sh = startShell(t, k.cgroup)
	if rc, out := sh.run(t, "seq 1 2"); rc != 0 || out != "1\n2\n" {
		t.Errorf("an allowed NOEXEC applet: rc %d, output %q", rc, out)
	}
	select {
	case got := <-killed:
		t.Errorf("an allowed applet reported killed: %q", got)
	case <-time.After(200 * time.Millisecond):
	}
}
