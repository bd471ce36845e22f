package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestUnpinLeavesNothing pins real enforcing links in bpffs, as
// an agent that exited leaves them, and uninstalls with `vigil-agent unpin`:
// the links are detached and the pin directory is gone.
func TestUnpinLeavesNothing(t *testing.T) {
	testutil.RequireRoot(t)
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("vigil-unpin-test-%d", os.Getpid()))
	t.Cleanup(func() {
		enforce.Unpin(dir) //nolint:errcheck // only if the test failed before unpin
	})
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.TypeExec)
	cfg.CgroupFilter, cfg.Cgroups = sensor.FilterInclude, []uint64{testutil.NewCgroup(t).ID}
	kcfg := enforce.DefaultKernelConfig()
	kcfg.PinDir = dir
	s, err := sensor.New(cfg, zap.NewNop(), kcfg.Programs())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enforce.NewKernel(s.Objects(), kcfg, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	out, _, err := execute(t, "unpin", "--pin-dir", dir)
	if err != nil || strings.HasPrefix(out, "detached 0 ") {
		t.Fatalf("unpin: %v: %s", err, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("unpin left %s: %v", dir, err)
	}
	if out, _, err := execute(t, "unpin", "--pin-dir", dir); err != nil || !strings.HasPrefix(out, "detached 0 ") {
		t.Errorf("unpin again: %v: %s", err, out)
	}
}
