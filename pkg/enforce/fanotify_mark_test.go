package enforce

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestMarkRefusesTheHost asks the listener to mark the mounts of processes
// that are not in a container's own root: this test process (the host's
// namespace, even said to be a workload) and a process runc would have just
// put in a new namespace, a copy of the host's not yet pivoted. Nothing may
// be marked.
func TestMarkRefusesTheHost(t *testing.T) {
	testutil.RequireRoot(t)
	f := startFanotify(t, func(OpenQuery) OpenAnswer { return OpenAnswer{Enforced: true, Allowed: true, Cacheable: true} })

	self := uint32(os.Getpid())
	for _, workload := range []bool{false, true} {
		if err := f.Mark(2, self, workload); !errors.Is(err, errNotContained) {
			t.Errorf("marking this process's mounts (workload %v): %v, want it refused", workload, err)
		}
	}
	unpivoted := exec.Command("/bin/busybox", "sleep", "60")
	unpivoted.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if err := unpivoted.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unpivoted.Process.Kill(); unpivoted.Wait() })
	if err := f.Mark(3, uint32(unpivoted.Process.Pid), false); !errors.Is(err, errNotContained) {
		t.Errorf("marking a namespace not pivoted yet: %v, want it refused", err)
	}
	if n := fdinfoMarks(t, f, "fanotify mnt_id:"); n != 0 {
		t.Errorf("%d mounts marked, want none", n)
	}
}
