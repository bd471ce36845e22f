package enforce

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/process"
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
	cg := testutil.NewCgroup(t)
	hostNS, err := process.HostMountNamespace("/proc")
	if err != nil {
		t.Fatal(err)
	}
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.TypeExec)
	cfg.CgroupFilter, cfg.Cgroups, cfg.HostMntNS = sensor.FilterInclude, []uint64{cg.ID}, hostNS
	s, err := sensor.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	go func() {
		for range s.Events() {
		}
	}()

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
	e, err := New(s.Policy(), sensor.HookExec, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const scope = 77
	if err := s.Scopes().Set(cg.ID, scope); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(&containers.Container{ID: "test", Scope: scope}, profile.ModeEnforce, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Forget(scope) })

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
