package enforce

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestStopContainerBeforeItsWorkload stops a container whose workload the
// kernel holds at its exec: killed, and said not to have run (its marker
// file never written); then one whose workload runs: killed, and said to
// have run.
func TestStopContainerBeforeItsWorkload(t *testing.T) {
	testutil.RequireRoot(t)
	k := newKernelFixture(t, HookExec, nil)
	const scope = 79
	k.holdForMarks(t, scope)
	t.Cleanup(func() { k.kernel.ReleaseAllHeld() })
	root := filepath.Dir(k.cgroup.Path)
	c := &Controller{log: zaptest.NewLogger(t), kernel: k.kernel, cgroupRoot: root}
	ctr := &containers.Container{ID: "unapproved", Scope: scope, CgroupPath: "/" + filepath.Base(k.cgroup.Path)}
	out := filepath.Join(t.TempDir(), "ran")

	held := k.workload(t, "sh", "-c", "echo ran >> "+out).Process
	waitState(t, held.Pid, 'T')
	st, err := c.stopContainer(ctr)
	if err != nil || st.WorkloadRan || st.Killed != 1 {
		t.Errorf("stop a held workload: %+v, %v; want 1 killed, not run", st, err)
	}
	if ps, _ := held.Wait(); ps.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the held workload ended %v, want killed", ps)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the held workload ran")
	}

	if _, err := k.kernel.ReleaseHeld(scope); err != nil {
		t.Fatal(err)
	}
	running := k.workload(t, "sh", "-c", "echo ran >> "+out+"; exec sleep 60").Process
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the released workload did not run")
		}
	}
	st, err = c.stopContainer(ctr)
	if err != nil || !st.WorkloadRan || st.Killed != 1 {
		t.Errorf("stop a running workload: %+v, %v; want 1 killed, run", st, err)
	}
	if ps, _ := running.Wait(); ps.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the running workload ended %v, want killed", ps)
	}
}
