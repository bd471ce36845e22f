package enforce

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// kernelFixture is the real sensor scoped to a test cgroup of its own, and
// an enforcer loading profiles into its maps.
type kernelFixture struct {
	sensor   *sensor.Sensor
	cgroup   *testutil.Cgroup
	enforcer *Enforcer
}

// newKernelFixture loads the sensor (adjust may change its settings); every
// program is detached when the test ends.
func newKernelFixture(t *testing.T, hooks sensor.Hooks, adjust func(*sensor.Config)) *kernelFixture {
	t.Helper()
	cg := testutil.NewCgroup(t)
	hostNS, err := sensor.HostMountNamespace("/proc")
	if err != nil {
		t.Fatal(err)
	}
	cfg := sensor.DefaultConfig()
	cfg.CgroupFilter, cfg.Cgroups, cfg.HostMntNS = sensor.FilterInclude, []uint64{cg.ID}, hostNS
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := sensor.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("load the sensor: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	e, err := New(s.Policy(), hooks, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &kernelFixture{sensor: s, cgroup: cg, enforcer: e}
}

// apply puts the test cgroup under scope with p in mode.
func (k *kernelFixture) apply(t *testing.T, scope uint32, mode profile.Mode, p *profile.Profile) {
	t.Helper()
	if err := k.sensor.Scopes().Set(k.cgroup.ID, scope); err != nil {
		t.Fatal(err)
	}
	if err := k.enforcer.Apply(&containers.Container{ID: t.Name(), Scope: scope}, mode, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.enforcer.Forget(scope) })
}

// drain discards the sensor's events.
func (k *kernelFixture) drain() {
	go func() {
		for range k.sensor.Events() {
		}
	}()
}
