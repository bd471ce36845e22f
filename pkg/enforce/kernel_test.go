package enforce

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestKernelExecMatching compiles exec patterns into the real kernel maps
// and runs binaries in a test cgroup, in a mount namespace of their own
// (so they count as a container's workload): the kernel must kill exactly
// those the profile does not allow. Nothing outside the cgroup is judged.
func TestKernelExecMatching(t *testing.T) {
	testutil.RequireRoot(t)
	k := newKernelFixture(t, HookExec, nil)
	k.drain()
	cg, s := k.cgroup, k.sensor

	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	truePath, _ := filepath.EvalSymlinks("/bin/true")
	place := func(rel string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(truePath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
	p.Spec.Executables = []profile.ExecEntry{
		{Path: truePath},
		{Path: dir + "/sub/**"},
		{Path: dir + "/kids/*"},
		{Path: dir + "/v/42/t"}, // a volatile name: any number matches, as learned
	}
	k.apply(t, 77, profile.ModeEnforce, p)

	for _, tc := range []struct {
		path    string
		allowed bool
	}{
		{truePath, true},
		{place("sub/a/b/t"), true},
		{place("kids/t"), true},
		{place("v/99/t"), true},
		{place("v/x/t"), false},
		{place("kids/deeper/t"), false},
		{place("other/t"), false},
	} {
		cmd := cg.Command(tc.path)
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
		err := cmd.Run()
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
		if killed == tc.allowed || (err != nil && !killed) {
			t.Errorf("exec %s: %v; want allowed=%v", tc.path, err, tc.allowed)
		}
		// The same binary outside the cgroup is never judged.
		if out, err := exec.Command(tc.path).CombinedOutput(); err != nil {
			t.Errorf("exec %s outside the cgroup: %v %s", tc.path, err, out)
		}
	}
	st, _ := s.Stats()
	if st.Killed[sensor.TypeExec] != 3 {
		t.Errorf("kernel killed %d execs, want 3", st.Killed[sensor.TypeExec])
	}
}
