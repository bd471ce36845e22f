package enforce

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestKernelKeepsKnownOpens monitors a test cgroup with a compiled profile:
// opens the profile allows, and lookups of missing files, must not leave
// the kernel; an open outside the profile must.
func TestKernelKeepsKnownOpens(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	hostNS, err := process.HostMountNamespace("/proc")
	if err != nil {
		t.Fatal(err)
	}
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
	cfg.CgroupFilter, cfg.Cgroups, cfg.HostMntNS = sensor.FilterInclude, []uint64{cg.ID}, hostNS
	cfg.MaxLatency = 10 * time.Millisecond
	s, err := sensor.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	opened := make(chan string, 1024)
	go func() {
		for ev := range s.Events() {
			opened <- ev.Open.Path
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
	e, err := New(s.Policy(), 0, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const scope = 3
	if err := s.Scopes().Set(cg.ID, scope); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(&containers.Container{ID: "monitored", Scope: scope}, profile.ModeMonitor, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Forget(scope) })

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
