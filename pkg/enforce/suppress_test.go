package enforce

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestKernelKeepsKnownOpens monitors a test cgroup with a compiled profile:
// opens the profile allows, and lookups of missing files, must not leave
// the kernel; an open outside the profile must.
func TestKernelKeepsKnownOpens(t *testing.T) {
	testutil.RequireRoot(t)
	k := newKernelFixture(t, 0, func(cfg *sensor.Config) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
		cfg.MaxLatency = 10 * time.Millisecond
	})
	cg, s := k.cgroup, k.sensor
	opened := make(chan string, 1024)
	go func() {
		for ev := range s.Events() {
			if ev.Type == sensor.TypeOpen {
				opened <- ev.Open.Path
			}
		}
	}()

	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	known, news := filepath.Join(dir, "known"), filepath.Join(dir, "news")
	for _, f := range []string{known, news} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeMonitor}}
	p.Spec.Files = []profile.FileEntry{{Path: known, Access: profile.AccessRead}}
	k.apply(t, 3, profile.ModeMonitor, p)

	cmd := cg.Command("/bin/busybox", "cat", known, known, known, news, filepath.Join(dir, "missing"))
	cmd.Args[0] = "busybox"
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	cmd.Run() // cat fails on the missing file, after the others

	seen := map[string]int{}
	timeout := time.After(5 * time.Second)
	for seen[news] == 0 {
		select {
		case path := <-opened:
			seen[path]++
		case <-timeout:
			t.Fatalf("the open outside the profile never left the kernel; seen %v", seen)
		}
	}
	time.Sleep(100 * time.Millisecond) // anything else on its way
	for len(opened) > 0 {
		seen[<-opened]++
	}
	if seen[known] != 0 || seen[filepath.Join(dir, "missing")] != 0 {
		t.Errorf("known opens or failed lookups left the kernel: %v", seen)
	}
}
