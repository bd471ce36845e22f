package enforce

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestFanotifyDeniesPerJudge marks a tmpfs mount of the test's own and
// checks that the judge's verdicts
// reach the kernel: a denied open fails with EPERM, an allowed one and an
// exec go through, and an open the judge does not answer in time goes
// through too (fail-open).
func TestFanotifyDeniesPerJudge(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	for _, name := range []string{"allowed", "denied", "slow"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := copyBusybox(t, dir)

	judge := func(pid int32, path string) (bool, bool) {
		switch filepath.Base(path) {
		case "denied":
			return true, false
		case "slow":
			time.Sleep(2 * fanotifyDeadline)
			return true, false
		}
		return true, true
	}
	f, err := NewFanotify(judge, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	if err := f.markPaths(1, []string{dir}); err != nil { // the test's own mount only
		t.Fatal(err)
	}

	run := func(args ...string) string {
		out, err := outsideListener(args...).CombinedOutput()
		if err != nil {
			var ee *exec.ExitError
			if ok := asExit(err, &ee); !ok {
				t.Fatalf("%v: %v", args, err)
			}
		}
		return string(out)
	}
	if out := run(bin, "cat", filepath.Join(dir, "allowed")); out != "allowed" {
		t.Errorf("allowed open and exec: %q", out)
	}
	if out := run(bin, "cat", filepath.Join(dir, "denied")); !strings.Contains(out, "not permitted") {
		t.Errorf("denied open: %q, want EPERM", out)
	}
	if out := run(bin, "cat", filepath.Join(dir, "slow")); out != "slow" {
		t.Errorf("an open judged past the deadline: %q, want it let through", out)
	}
	f.Unmark(1)
	if out := run(bin, "cat", filepath.Join(dir, "denied")); out != "denied" {
		t.Errorf("after unmarking: %q, want the open through", out)
	}
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok && e.Sys().(syscall.WaitStatus).Exited()
}

// copyBusybox puts busybox on the marked mount at dir.
func copyBusybox(tb testing.TB, dir string) string {
	tb.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "busybox")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

// outsideListener runs args through an unmarked shell. The process that
// answers permission events must never exec a marked file itself: Go forks
// with vfork and the forking thread keeps its P until the child's exec is
// answered, so a stop-the-world GC in between deadlocks the listener.
func outsideListener(args ...string) *exec.Cmd {
	return exec.Command("/bin/busybox", append([]string{"sh", "-c", `exec "$@"`, "sh"}, args...)...)
}

// BenchmarkFanotifyExec is the cost the fanotify tier adds to an exec in an
// enforced container: a shell forks and execs busybox true on a tmpfs b.N
// times, marked against unmarked.
func BenchmarkFanotifyExec(b *testing.B) {
	testutil.RequireRoot(b)
	dir := b.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	bin := copyBusybox(b, dir)
	execLoop := func(b *testing.B) {
		loop := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do "$0" true; i=$((i+1)); done`, b.N)
		b.ResetTimer()
		if out, err := exec.Command("/bin/busybox", "sh", "-c", loop, bin).CombinedOutput(); err != nil {
			b.Fatalf("exec loop: %v: %s", err, out)
		}
	}
	b.Run("unmarked", execLoop)
	b.Run("marked", func(b *testing.B) {
		f, err := NewFanotify(func(int32, string) (bool, bool) { return true, true }, zaptest.NewLogger(b), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		}()
		if err := f.markPaths(1, []string{dir}); err != nil { // the benchmark's own mount only
			b.Fatal(err)
		}
		execLoop(b)
	})
}
