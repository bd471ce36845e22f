package enforce

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestPinnedRingsCarryKillsToTheNextAgent kills a forbidden exec with the
// programs an agent left pinned after it stopped: the kill is in that
// generation's pinned judged ring, and the next agent's sensor, reading
// the previous rings until the release, delivers it once, as killed, on
// its judged path.
func TestPinnedRingsCarryKillsToTheNextAgent(t *testing.T) {
	testutil.RequireRoot(t)
	pins := filepath.Join("/sys/fs/bpf", "vigil-rings-"+strconv.Itoa(os.Getpid()))
	k := newKernelFixture(t, HookExec, func(_ *sensor.Config, kc *KernelConfig) { kc.PinDir = pins })
	t.Cleanup(func() { Unpin(pins) })
	k.drain()
	truePath, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
	p.Spec.Executables = []profile.ExecEntry{{Path: truePath}}
	k.apply(t, 78, profile.ModeEnforce, p)
	forbidden := filepath.Join(plainTempDir(t), "forbidden")
	b, err := os.ReadFile(truePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(forbidden, b, 0o755); err != nil {
		t.Fatal(err)
	}
	k.sensor.Close() // the agent is gone; its pinned generation is not

	cmd := k.cgroup.Command(forbidden)
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	var ee *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exec %s with no agent running: %v, want killed", forbidden, err)
	}

	rings, err := PreviousMaps(pins)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range previousPins {
		if len(rings[name]) != 1 {
			t.Fatalf("%d pinned %s maps opened, want 1", len(rings[name]), name)
		}
	}
	cfg := sensor.DefaultConfig()
	cfg.CgroupFilter, cfg.Cgroups, cfg.HostMntNS = sensor.FilterInclude, []uint64{k.cgroup.ID}, testutil.RuntimeMountNamespace(t)
	cfg.Previous = rings
	next, err := sensor.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Close() })
	if _, err := Unpin(pins); err != nil {
		t.Fatal(err)
	}
	next.EndHandover()

	kills := 0
	timeout := time.After(time.Second)
	for done := false; !done; {
		select {
		case ev := <-next.Judged():
			if ev.Type == sensor.TypeExec && ev.CgroupID == k.cgroup.ID && ev.Flags&sensor.FlagKilled != 0 {
				kills++
			}
			sensor.Release(ev)
		case ev := <-next.Events():
			if ev.Type == sensor.TypeExec && ev.CgroupID == k.cgroup.ID {
				t.Errorf("the forbidden exec was delivered on the shared path (flags %v)", ev.Flags)
			}
			sensor.Release(ev)
		case <-timeout:
			done = true
		}
	}
	if kills != 1 {
		t.Errorf("the kill made while no agent ran was delivered %d times on the judged path, want once", kills)
	}
}
