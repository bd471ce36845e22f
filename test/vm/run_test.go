package vm_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/test/testutil"
	"github.com/vigil-dev/vigil/test/vm"
)

func prepare(t *testing.T) *vm.Image {
	t.Helper()
	testutil.RequireRoot(t)
	img, err := vm.Prepare(context.Background(), vm.Config{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// script writes an executable shell script for the guest's busybox sh.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunReturnsOutputExitStatusAndEnvironment(t *testing.T) {
	img := prepare(t)
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "input"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := script(t, `
echo "args: $# [$1] [$2]"
echo "env: $VIGIL_X $`+vm.GuestEnv+` ${HOSTNAME_LEAK:-unset}"
echo "pwd: $(pwd)"
echo "lsm: $(cat /sys/kernel/security/lsm)"
cat input
echo "written in the guest" >`+filepath.Join(shared, "output")+`
echo "to stderr" >&2
exit 7
`)
	var stdout, stderr bytes.Buffer
	t.Setenv("HOSTNAME_LEAK", "leaked")
	res, err := img.Run(context.Background(), vm.Spec{
		Path:    prog,
		Args:    []string{"it's one", ""},
		Env:     []string{"VIGIL_X=passed"},
		Dir:     shared,
		Shares:  []vm.Share{{Path: shared}},
		Stdout:  &stdout,
		Stderr:  &stderr,
		Timeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot %s, %s in all", res.Boot, res.Elapsed)
	if res.ExitCode != 7 {
		t.Errorf("exit status %d, want 7", res.ExitCode)
	}
	want := "args: 2 [it's one] []\n" +
		"env: passed 1 unset\n" +
		"pwd: " + shared + "\n" +
		"lsm: lockdown,capability,bpf\n" +
		"from the host\n"
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if stderr.String() != "to stderr\n" {
		t.Errorf("stderr %q", stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(shared, "output")); err != nil || string(b) != "written in the guest\n" {
		t.Errorf("file written in the guest: %q, %v", b, err)
	}
	if res.Boot <= 0 || res.Elapsed < res.Boot {
		t.Errorf("timings: boot %s, elapsed %s", res.Boot, res.Elapsed)
	}
}

func TestRunKillsGuestAtDeadline(t *testing.T) {
	t.Parallel() // it mostly waits
	img := prepare(t)
	const timeout = 5 * time.Second
	start := time.Now()
	res, err := img.Run(context.Background(), vm.Spec{Path: script(t, "sleep 600\n"), Timeout: timeout})
	if !errors.Is(err, vm.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took < timeout || took > timeout+10*time.Second {
		t.Errorf("Run returned after %s for a %s deadline", took, timeout)
	}
	if res == nil || res.Elapsed < timeout {
		t.Errorf("result %+v", res)
	}
}

func TestRunRefusesDynamicProgram(t *testing.T) {
	img := prepare(t)
	// Any dynamically linked host binary will do; the guest has no libc.
	_, err := img.Run(context.Background(), vm.Spec{Path: "/usr/bin/env"})
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("got %v, want a refusal of a dynamically linked program", err)
	}
}
