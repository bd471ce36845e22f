package enforce

import (
	"context"
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
	b, _ := os.ReadFile("/bin/busybox")
	if err := os.WriteFile(filepath.Join(dir, "bin"), b, 0o755); err != nil {
		t.Fatal(err)
	}

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

	run := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Args[0] = "busybox"
		out, err := cmd.CombinedOutput()
		if err != nil {
			var ee *exec.ExitError
			if ok := asExit(err, &ee); !ok {
				t.Fatalf("%s %v: %v", name, args, err)
			}
		}
		return string(out)
	}
	bin := filepath.Join(dir, "bin")
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
