package sensor

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestContainedOnlyKeepsTheRestInTheKernel: with ContainedOnly, the opens,
// connects and capability uses of tasks that do not run a container's
// workload end in the kernel, counted; a workload's are delivered, and
// every task's execs, forks and exits too (the process table needs them).
func TestContainedOnlyKeepsTheRestInTheKernel(t *testing.T) {
	testutil.RequireRoot(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cg := testutil.NewCgroup(t)
	cfg := defaultTestConfig(TypeExec, TypeOpen, TypeConnect, TypeCapability)
	cfg.ContainedOnly = true
	s, rec := startSensor(t, cfg, cg)
	dir := realPath(t, t.TempDir())
	file := filepath.Join(dir, "config")
	if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// On the host: a fork and an exec from a shell, an open, a connect
	// and a capability use.
	shell := cg.Command("/bin/sh", "-c", "/bin/true; exit 0")
	if out, err := shell.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	host := []int{
		shell.Process.Pid,
		runHelper(t, cg, "openat", dir, "config"),
		runHelper(t, cg, "connect", "tcp4", ln.Addr().String()),
		runHelper(t, cg, "raw-socket"),
	}
	// The runtime's open before the exec in the namespace, then the workload's.
	workload := runHelper(t, cg, "enter-then-exec", file)

	fork := rec.waitFor(t, "the shell's fork", func(ev Event) bool {
		return ev.Type == TypeFork && ev.PID == uint32(shell.Process.Pid)
	})
	rec.waitFor(t, "the exec of true", func(ev Event) bool {
		return isExecOf(int(fork.Fork.ChildPID))(ev) && ev.Exec.Path == realPath(t, "/bin/true")
	})
	for _, pid := range host {
		rec.waitFor(t, "a host helper's exec", isExecOf(pid))
		rec.waitFor(t, "a host helper's exit", func(ev Event) bool { return ev.Type == TypeExit && ev.PID == uint32(pid) })
	}
	rec.waitFor(t, "the workload's open", func(ev Event) bool {
		return ev.Type == TypeOpen && ev.PID == uint32(workload) && ev.Open.Path == file && ev.Comm == "cat"
	})
	rec.waitFor(t, "the workload's exit", func(ev Event) bool { return ev.Type == TypeExit && ev.PID == uint32(workload) })

	for _, ev := range rec.all() {
		switch ev.Type {
		case TypeOpen, TypeConnect, TypeCapability:
			if !ev.Flags.Has(FlagWorkload) {
				t.Errorf("%s event of a task that runs no workload left the kernel: %+v", ev.Type, ev)
			}
		}
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	kept := []Type{TypeOpen, TypeConnect}
	if err := s.Unavailable(bpfobj.FamilyCapability.Name); err != nil {
		t.Logf("capability uses not checked: %v", err) // Linux before 6.x has no cap_capable tracepoint
	} else {
		kept = append(kept, TypeCapability)
	}
	for _, typ := range kept {
		if st.Uncontained[typ] == 0 {
			t.Errorf("no %s kept in the kernel counted", typ)
		}
	}
	if st.Emitted[TypeConnect] != 0 {
		t.Errorf("%d connects left the kernel; the only one was the host's", st.Emitted[TypeConnect])
	}
}
