package enforce

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// kernelFixture is the real programs, their sensor scoped to a test cgroup
// of its own, and an enforcer loading profiles into their maps.
type kernelFixture struct {
	sensor   *sensor.Sensor
	kernel   *Kernel
	cgroup   *testutil.Cgroup
	enforcer *Enforcer
}

// newKernelFixture loads the programs (adjust may change their settings);
// every program is detached when the test ends.
func newKernelFixture(t *testing.T, hooks Hooks, adjust func(*sensor.Config, *KernelConfig)) *kernelFixture {
	t.Helper()
	cg := testutil.NewCgroup(t)
	hostNS := testutil.RuntimeMountNamespace(t)
	cfg := sensor.DefaultConfig()
	cfg.CgroupFilter, cfg.Cgroups, cfg.HostMntNS = sensor.FilterInclude, []uint64{cg.ID}, hostNS
	kcfg := DefaultKernelConfig()
	kcfg.HostMntNS = hostNS
	if adjust != nil {
		adjust(&cfg, &kcfg)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	s, err := sensor.New(cfg, log, kcfg.Programs())
	if err != nil {
		t.Fatalf("load the sensor: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	k, err := NewKernel(s.Objects(), kcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(k.Policy(), hooks, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &kernelFixture{sensor: s, kernel: k, cgroup: cg, enforcer: e}
}

// apply puts the test cgroup under scope with p in mode.
func (k *kernelFixture) apply(t *testing.T, scope uint32, mode profile.Mode, p *profile.Profile) {
	t.Helper()
	if err := k.kernel.Scopes().Set(k.cgroup.ID, scope); err != nil {
		t.Fatal(err)
	}
	if err := k.enforcer.Apply(&containers.Container{ID: t.Name(), Scope: scope}, mode, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.enforcer.Forget(scope) })
}

// drain discards the sensor's events.
func (k *kernelFixture) drain() {
	go func() {
		for range sensor.Merged(k.sensor) {
		}
	}()
}

// plainTempDir is a temporary directory whose path has no volatile part
// (digits, long hex ids, UUIDs, long runs of digits: the kernel reads those
// as any such name, so a profile naming one is widened), unlike
// t.TempDir's and os.MkdirTemp's, whose names end in random digits.
func plainTempDir(t testing.TB) string {
	t.Helper()
	var dir string
	for {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = 'a' + b[i]%26
		}
		dir = filepath.Join(os.TempDir(), "vigil-enforce-"+string(b[:]))
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			break
		}
		if !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		if profile.CanonicalName(c) != c {
			t.Fatalf("temporary directory %s has a volatile component %q", dir, c)
		}
	}
	return dir
}

// shell is a container's workload for a test: a busybox shell in a test
// cgroup and a mount namespace of its own (so that it runs a container's
// workload, as the kernel tells), running the test's commands in turn, all
// in that one namespace.
type shell struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

func startShell(t testing.TB, cg *testutil.Cgroup) *shell {
	t.Helper()
	cmd := cg.Command("/bin/busybox", "sh")
	cmd.Args[0] = "busybox"
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	return &shell{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
}

// run runs a command and returns its exit status and output.
func (s *shell) run(t testing.TB, command string) (int, string) {
	t.Helper()
	const end = "@@rc="
	fmt.Fprintf(s.stdin, "%s 2>&1; echo %s$?\n", command, end)
	var out strings.Builder
	for s.lines.Scan() {
		line := s.lines.Text()
		if rc, ok := strings.CutPrefix(line, end); ok {
			var n int
			fmt.Sscan(rc, &n)
			return n, out.String()
		}
		out.WriteString(line + "\n")
	}
	s.stdin.Close()
	t.Fatalf("the container's shell ended during %q: %v (%v); output %q", command, s.lines.Err(), s.cmd.Wait(), out.String())
	return 0, ""
}
