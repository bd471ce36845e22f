package enforce

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestWorkloadExecHeldForMarks holds a scope for its marks and execs a
// program in its cgroup, in a mount namespace of its own (a container's
// workload): the process must be stopped before the program runs, and run
// once the scope is released; an exec outside the cgroup and one in the
// cgroup after the release are never stopped.
func TestWorkloadExecHeldForMarks(t *testing.T) {
	testutil.RequireRoot(t)
	k := newKernelFixture(t, HookExec, nil)
	const scope = 78
	k.holdForMarks(t, scope)
	t.Cleanup(func() { k.kernel.ReleaseAllHeld() })
	out := filepath.Join(t.TempDir(), "ran")

	workload := func() *os.Process { return k.workload(t, "sh", "-c", "echo ran >> "+out).Process }
	held := workload()
	waitState(t, held.Pid, 'T')
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the held workload ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "/bin/busybox", "true").Run(); err != nil {
		t.Fatalf("an exec outside the cgroup: %v", err)
	}

	n, err := k.kernel.ReleaseHeld(scope)
	if err != nil || n != 1 {
		t.Fatalf("release: %d continued, %v; want 1", n, err)
	}
	if st, err := held.Wait(); err != nil || !st.Success() {
		t.Fatalf("the released workload: %v %v", st, err)
	}
	next := workload()
	done := make(chan error, 1)
	go func() { _, err := next.Wait(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an exec after the release was held")
	}
	if b, _ := os.ReadFile(out); string(b) != "ran\nran\n" {
		t.Errorf("the workloads wrote %q, want both to have run", b)
	}
}

// holdForMarks puts the fixture's cgroup under scope, held for its marks.
func (k *kernelFixture) holdForMarks(t *testing.T, scope uint32) {
	t.Helper()
	k.drain()
	if err := k.kernel.Scopes().Set(k.cgroup.ID, scope); err != nil {
		t.Fatal(err)
	}
	if err := k.kernel.HoldForMarks(scope); err != nil {
		t.Fatal(err)
	}
}

// workload starts busybox with args in the fixture's cgroup, in a mount
// namespace of its own: a container's workload, as the kernel tells.
func (k *kernelFixture) workload(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := k.cgroup.Command("/bin/busybox", args...)
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitState waits until process pid is in state (a letter of /proc/pid/stat).
func waitState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err == nil {
			_, rest, _ := strings.Cut(string(b), ") ")
			if len(rest) > 0 && rest[0] == state {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not in state %c: %s (%v)", pid, state, b, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHeldProcessesOutliveTheirAgent holds a workload with pinned
// programs, then drops the agent's side as a crash would: the process stays
// stopped while the pinned program runs, and releasing that generation (as
// the next agent does once its own marks are in place) continues it.
func TestHeldProcessesOutliveTheirAgent(t *testing.T) {
	testutil.RequireRoot(t)
	pins := filepath.Join("/sys/fs/bpf", "vigil-hold-"+strconv.Itoa(os.Getpid()))
	k := newKernelFixture(t, HookExec, func(_ *sensor.Config, kc *KernelConfig) { kc.PinDir = pins })
	t.Cleanup(func() { Unpin(pins) })
	k.holdForMarks(t, 79)
	cmd := k.workload(t, "true")
	waitState(t, cmd.Process.Pid, 'T')
	k.sensor.Close() // the agent is gone; its pinned generation is not
	time.Sleep(50 * time.Millisecond)
	waitState(t, cmd.Process.Pid, 'T')

	if n, err := Unpin(pins); err != nil || n == 0 {
		t.Fatalf("release the generation: %d links, %v", n, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the held process, continued: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held process was not continued when its generation was released")
	}
}
