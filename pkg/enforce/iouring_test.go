package enforce

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// ioUringProbe builds test/containerd/probe, whose "iouring FILE" opens
// FILE through an io_uring OPENAT request (busybox has no io_uring).
func ioUringProbe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/vigil-dev/vigil/test/containerd/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v: %s", err, out)
	}
	return bin
}

// TestIoUringLearnedAndEnforced runs a program that opens a file through
// io_uring as a container's workload (the test's cgroup, a mount namespace
// of its own): unprofiled, the kernel reports the ring's setup and its
// OPENAT; enforced by a profile that never used io_uring, the program is
// killed setting up its ring and never opens the file; by one that allows
// setting up a ring but not OPENAT, it is killed submitting the request;
// by one that allows both, it runs.
func TestIoUringLearnedAndEnforced(t *testing.T) {
	testutil.RequireRoot(t)
	probe := ioUringProbe(t)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("uring-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := newKernelFixture(t, HookIoUring, func(cfg *sensor.Config, kcfg *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeIoUring)
		cfg.MaxLatency = 10 * time.Millisecond
	})
	events := make(chan sensor.Event, 1024)
	go func() {
		for ev := range sensor.Merged(k.sensor) {
			if ev.Type == sensor.TypeIoUring {
				events <- ev
			}
		}
	}()
	run := func() (int, string) {
		t.Helper()
		cmd := k.cgroup.Command(probe, "iouring", file)
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws := exit.Sys().(syscall.WaitStatus); ws.Signaled() {
				return 128 + int(ws.Signal()), string(out)
			}
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	// reports collects the operations reported until want are all seen.
	reports := func(want ...profile.IoUringOp) map[profile.IoUringOp]sensor.Flags {
		t.Helper()
		got := map[profile.IoUringOp]sensor.Flags{}
		deadline := time.After(5 * time.Second)
		for {
			missing := false
			for _, op := range want {
				if _, ok := got[op]; !ok {
					missing = true
				}
			}
			if !missing {
				return got
			}
			select {
			case ev := <-events:
				got[profile.IoUringOp(ev.IoUring.Op)] = ev.Flags
			case <-deadline:
				t.Fatalf("io_uring reports %v, want %v", got, want)
			}
		}
	}
	const openat = profile.IoUringOp(18) // IORING_OP_OPENAT

	if rc, out := run(); rc != 0 || out != "uring-secret\n" {
		t.Fatalf("unprofiled: rc %d, output %q", rc, out)
	}
	for op, flags := range reports(profile.IoUringSetup, openat) {
		if flags.Has(sensor.FlagKilled) || !flags.Has(sensor.FlagWorkload) {
			t.Errorf("unprofiled %s reported with flags %b, want the workload's, not killed", op, flags)
		}
	}

	scope := uint32(7)
	for _, tc := range []struct {
		name    string
		mode    profile.Mode
		allowed []profile.IoUringOp
		killed  profile.IoUringOp // 0: runs
	}{
		{"monitored, never used", profile.ModeMonitor, nil, 0},
		{"never used", profile.ModeEnforce, nil, profile.IoUringSetup},
		{"setup only", profile.ModeEnforce, []profile.IoUringOp{profile.IoUringSetup}, openat},
		{"setup and openat", profile.ModeEnforce, []profile.IoUringOp{profile.IoUringSetup, openat}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{Metadata: profile.Metadata{Mode: tc.mode}}
			for _, op := range tc.allowed {
				p.Spec.IoUring = append(p.Spec.IoUring, profile.IoUringEntry{Op: op})
			}
			scope++
			k.apply(t, scope, tc.mode, p)
			for len(events) > 0 {
				<-events
			}
			rc, out := run()
			if tc.mode == profile.ModeMonitor {
				if rc != 0 || out != "uring-secret\n" {
					t.Fatalf("monitored: rc %d, output %q", rc, out)
				}
				for op, flags := range reports(profile.IoUringSetup, openat) {
					if flags.Has(sensor.FlagKilled) {
						t.Errorf("monitored %s killed", op)
					}
				}
				return
			}
			if tc.killed == 0 {
				if rc != 0 || out != "uring-secret\n" {
					t.Fatalf("allowed: rc %d, output %q", rc, out)
				}
				select {
				case ev := <-events:
					t.Errorf("an allowed operation was reported: %+v", ev.IoUring)
				case <-time.After(200 * time.Millisecond):
				}
				return
			}
			if rc != 128+int(syscall.SIGKILL) || out != "" {
				t.Fatalf("rc %d, output %q: want killed before it read the file", rc, out)
			}
			if flags := reports(tc.killed)[tc.killed]; !flags.Has(sensor.FlagKilled) {
				t.Errorf("%s reported with flags %b, want killed", tc.killed, flags)
			}
		})
	}
}
