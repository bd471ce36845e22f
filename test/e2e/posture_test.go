package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigil-dev/vigil/pkg/agent"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// TestPosture runs three containers of one image under containerd — one
// restricted, then one privileged with the node's network and PID
// namespaces and /etc mounted, then one with the runtime's defaults — and
// reads their posture from the collector: findings, the Pod Security
// Standards level each meets, the capabilities its learned draft never
// used, and an alert for the privileged one, worse than the restricted
// one before it.
func TestPosture(t *testing.T) {
	busybox := containerdtest.BusyboxImage(t)
	w := newWorld(t, "posture", busybox)
	consumer, collectorCfg := collectorFor(t, "posture-node", 300*time.Millisecond)
	cfg := w.agentConfig(t)
	cfg.Node, cfg.Collector = "posture-node", collectorCfg
	_, reg := startAgent(t, cfg)

	run := func(name string, opts ...oci.SpecOpts) *containerdtest.Container {
		return w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"},
			Labels: containerdtest.CRILabels(name, "shop", "uid-"+name, "main"), SpecOpts: opts})
	}
	ctx := context.Background()
	postures := func() map[string]*vigilv1.ContainerPosture {
		out := map[string]*vigilv1.ContainerPosture{}
		nodes, err := consumer.ListNodes(ctx, &vigilv1.ListNodesRequest{})
		if err != nil {
			return out
		}
		for _, n := range nodes.GetNodes() {
			for _, p := range n.GetPostures() {
				out[p.GetPod()] = p
			}
		}
		return out
	}
	waitPosture := func(pod string) *vigilv1.ContainerPosture {
		t.Helper()
		waitFor(t, "the posture of "+pod+" at the collector", func() bool { return postures()[pod] != nil })
		return postures()[pod]
	}

	restricted := run("restricted", oci.WithUserID(1000), oci.WithNoNewPrivileges, oci.WithRootFSReadonly(),
		oci.WithCapabilities([]string{}), seccomp.WithDefaultProfile())
	execIn(t, restricted, "id -u >/dev/null")
	r := waitPosture("restricted")
	if r.GetPssLevel() != "restricted" || len(r.GetFindings()) != 0 || r.GetUid() != 1000 {
		t.Errorf("restricted container: %v", r)
	}

	// As the CRI plugin makes a privileged pod's container:
	// allowPrivilegeEscalation is true, no_new_privs off.
	escalates := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.NoNewPrivileges = false
		return nil
	}
	privileged := run("privileged", oci.WithPrivileged, escalates, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.PIDNamespace),
		oci.WithMounts([]specs.Mount{{Source: "/etc", Destination: "/host-etc", Type: "bind", Options: []string{"rbind", "ro"}}}))
	execIn(t, privileged, "ls /host-etc >/dev/null")
	p := waitPosture("privileged")
	wantFindings := []string{"privileged", "run_as_root", "added_capabilities", "writable_root_fs", "host_pid", "host_network",
		"host_path_mount", "sensitive_host_mount", "no_seccomp", "privilege_escalation"}
	for _, f := range wantFindings {
		if !slices.Contains(p.GetFindings(), f) {
			t.Errorf("privileged container lacks finding %s: %v", f, p.GetFindings())
		}
	}
	if p.GetPssLevel() != "privileged" || slices.Contains(p.GetFindings(), "host_ipc") || !slices.Contains(p.GetHostMounts(), "/etc:/host-etc") ||
		!slices.Contains(p.GetAddedCapabilities(), "CAP_SYS_ADMIN") {
		t.Errorf("privileged container: %v", p)
	}

	var worse *vigilv1.Alert
	waitFor(t, "the posture alert at the collector", func() bool {
		resp, err := consumer.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: &vigilv1.AlertFilter{Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_POSTURE}}})
		if err != nil || len(resp.GetAlerts()) == 0 {
			return false
		}
		worse = resp.GetAlerts()[0]
		return true
	})
	if worse.GetContainer().GetId() != privileged.ID || worse.GetRule() != agent.RulePostureWorse ||
		worse.GetLabels()["previous_container"] != restricted.ID || !strings.Contains(worse.GetLabels()["findings"], "privileged") {
		t.Errorf("posture alert: %v", worse)
	}

	defaults := run("defaults")
	execIn(t, defaults, "ls / >/dev/null")
	var d *vigilv1.ContainerPosture
	waitFor(t, "the defaults container's unused capabilities", func() bool {
		d = postures()["defaults"]
		return d != nil && len(d.GetUnusedCapabilities()) > 0
	})
	if d.GetPssLevel() != "baseline" || !slices.Contains(d.GetUnusedCapabilities(), "CAP_NET_RAW") ||
		!slices.Contains(d.GetFindings(), "unused_capabilities") || slices.Contains(d.GetFindings(), "added_capabilities") {
		t.Errorf("runtime defaults container: %v", d)
	}
	// Only the privileged container is worse than the one before it.
	resp, err := consumer.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: &vigilv1.AlertFilter{Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_POSTURE}}})
	if err != nil || len(resp.GetAlerts()) != 1 {
		t.Errorf("posture alerts: %v, %v", resp, err)
	}

	if f := postures()["privileged"].GetFindings(); !slices.Contains(f, "privilege_escalation") || !slices.Contains(f, "unused_capabilities") {
		t.Errorf("privileged container's findings once its draft is known: %v", f)
	}
	for finding, want := range map[string]float64{"privileged": 1, "run_as_root": 2, "unused_capabilities": 2, "host_network": 1, "no_seccomp": 2} {
		if got := metric(t, reg, "vigil_posture_findings", "finding", finding); got != want {
			t.Errorf("vigil_posture_findings{finding=%q} = %v, want %v", finding, got, want)
		}
	}

	var table strings.Builder
	fmt.Fprintf(&table, "%-10s %-10s %-60s %s\n", "POD", "PSS", "FINDINGS", "UNUSED CAPABILITIES")
	for _, pod := range []string{"restricted", "privileged", "defaults"} {
		x := postures()[pod]
		fmt.Fprintf(&table, "%-10s %-10s %-60s %s\n", pod, x.GetPssLevel(), strings.Join(x.GetFindings(), ","), strings.Join(x.GetUnusedCapabilities(), ","))
	}
	t.Logf("fleet posture:\n%s", table.String())
}
