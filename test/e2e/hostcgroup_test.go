package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// sandboxedRuns is how many sandboxed host tasks TestRunKeepsHostCgroupsInTheKernel runs.
const sandboxedRuns = 20

// TestRunKeepsHostCgroupsInTheKernel: a host service with a mount namespace
// of its own (`unshare -m`, as systemd's PrivateTmp= makes one) looks like
// a workload to the kernel. Once attribution has found its cgroup to be the
// host's, `vigil-agent run` keeps its opens in the kernel, counted, instead
// of delivering them only to drop them. A container started after it is a
// cgroup not marked: its first open is delivered and learned.
func TestRunKeepsHostCgroupsInTheKernel(t *testing.T) {
	busybox := containerdtest.BusyboxImage(t)
	w := newWorld(t, "hostcg", busybox)
	service := testutil.NewCgroup(t)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := w.agentConfig(t)
	cfg.Sensor.Cgroups = append(cfg.Sensor.Cgroups, service.ID)
	a, reg := startAgent(t, cfg)

	sandboxed := func() {
		t.Helper()
		if out, err := service.Command("unshare", "-m", "cat", data).CombinedOutput(); err != nil {
			t.Fatalf("unshare -m cat: %v\n%s", err, out)
		}
	}
	// The first run's events are attributed, and its cgroup found the host's.
	sandboxed()
	waitProcessed(t, reg)

	opens := func() (delivered, kept float64) {
		return metric(t, reg, "vigil_sensor_kernel_events_total", "type", "open"),
			metric(t, reg, "vigil_sensor_host_cgroup_events_total", "type", "open")
	}
	delivered, kept := opens()
	for range sandboxedRuns {
		sandboxed()
	}
	waitProcessed(t, reg)
	delivered2, kept2 := opens()
	t.Logf("%d sandboxed runs in the host's cgroup: %.0f opens delivered, %.0f kept in the kernel",
		sandboxedRuns, delivered2-delivered, kept2-kept)
	if delivered2 != delivered {
		t.Errorf("%.0f opens of sandboxed host tasks delivered, want 0", delivered2-delivered)
	}
	if kept2-kept < sandboxedRuns {
		t.Errorf("%.0f opens counted as kept in the kernel, want at least %d (one of data each)", kept2-kept, sandboxedRuns)
	}

	tools := filepath.Dir(data)
	w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns,
		Args: []string{"/bin/sh", "-c", "cat /opt/tools/data >/dev/null; exec sleep 3600"}, Binds: map[string]string{tools: "/opt/tools"}})
	waitDraft(t, a, busybox.ManifestDigest.String(), func(p *profile.Profile) bool { return hasFile(p, "/opt/tools/data") })
}
