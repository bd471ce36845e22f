package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// world is what a test here stands on: a containerd of its own, and a
// containerd namespace, whose containers run in a cgroup of the test's
// (scope), with the test's images imported.
type world struct {
	ns    string
	scope uint64
	d     *containerdtest.Daemon
}

// newWorld starts a world named for the test (name) with images imported.
func newWorld(t *testing.T, name string, images ...containerdtest.Image) world {
	t.Helper()
	testutil.RequireRoot(t)
	w := world{ns: fmt.Sprintf("vigil-e2e-%s-%d", name, os.Getpid())}
	w.scope = testutil.NamespaceCgroup(t, w.ns)
	w.d = containerdtest.Start(t)
	for _, img := range images {
		w.d.Import(t, w.ns, img)
	}
	return w
}

// agentConfig is an agent of node e2e-node that sees only the world's
// containers, keeps its state in a directory of the test's and pins
// nothing (its enforcement ends with the test); no alerts file.
func (w world) agentConfig(t *testing.T) agent.Config {
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.AlertsFile = "e2e-node", t.TempDir(), ""
	cfg.ContainerdSocket, cfg.PinDir = w.d.Address, ""
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{w.scope}
	return cfg
}
