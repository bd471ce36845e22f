package enforce

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestFanotifyReportsIoUringRefusals refuses every open of a marked mount:
// the open of an io_uring request, which no open system call reports, is
// reported by the listener itself, with the ring's process; an open system
// call's refusal is not (the sys_exit sensor reports it, EPERM).
func TestFanotifyReportsIoUringRefusals(t *testing.T) {
	testutil.RequireRoot(t)
	probe := ioUringProbe(t)
	dir := tmpfs(t)
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const cgroup = 42 // the judge's: the report carries it, the process may be gone by then
	f, err := NewFanotify(func(OpenQuery) OpenAnswer { return OpenAnswer{Enforced: true, Cgroup: cgroup} }, procfs.DefaultRoot,
		testutil.RuntimeMountNamespace(t), zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []OpenRefusal
	f.unreported = func(r OpenRefusal) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
	}
	testutil.RunUntilCleanup(t, "fanotify listener", f.Run)
	markPaths(t, f, 1, dir)
	reported := func() []OpenRefusal {
		mu.Lock()
		defer mu.Unlock()
		return append([]OpenRefusal(nil), got...)
	}

	cat := exec.Command("/bin/busybox", "cat", secret)
	if out, err := cat.CombinedOutput(); err == nil {
		t.Fatalf("cat of a refused file: %q, want it refused", out)
	}
	uring := exec.Command(probe, "iouring", secret)
	out, err := uring.CombinedOutput()
	if err == nil {
		t.Fatalf("io_uring open of a refused file: %q, want it refused", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(reported()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r := reported()
	if len(r) != 1 || r[0].Path != secret || r[0].PID != int32(uring.Process.Pid) || r[0].Cgroup != cgroup || r[0].Comm == "" {
		t.Fatalf("refusals reported by the listener: %+v, want one of %s by the io_uring process %d (cat %d: none)",
			r, secret, uring.Process.Pid, cat.Process.Pid)
	}
	t.Logf("io_uring open refused (%q) and reported, thread %d (%s) of process %d", out, r[0].TID, r[0].Comm, r[0].PID)
}
