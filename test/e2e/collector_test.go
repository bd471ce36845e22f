package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/agent"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	collectortest "github.com/vigil-dev/vigil/test/collector"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestCollectorLoop runs the whole loop over mTLS: the agent learns an
// image and submits its draft; the collector merges it into a profile; an
// operator promotes it to monitor; the collector pushes it to the agent; a
// violation comes back to the collector as an alert; the node reports its
// status.
func TestCollectorLoop(t *testing.T) {
	testutil.RequireRoot(t)
	ns := fmt.Sprintf("vigil-e2e-loop-%d", os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns)
	d := containerdtest.Start(t)
	busybox := containerdtest.BusyboxImage(t)
	d.Import(t, ns, busybox)
	digest := busybox.ManifestDigest.String()

	consumer, collectorCfg := collectorFor(t, "loop-node", 300*time.Millisecond)
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.AlertsFile = "loop-node", t.TempDir(), ""
	cfg.ContainerdSocket = d.Address
	cfg.PinDir = "" // enforcement ends with the test
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{scope}
	cfg.Collector = collectorCfg
	a, _ := startAgent(t, cfg)

	c := d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: ns, Args: []string{"/bin/sleep", "3600"}})
	execIn(t, c, "ls / >/dev/null; nc -w 1 127.0.0.1 8080 </dev/null; true")

	ctx := context.Background()
	var merged *vigilv1.Profile
	waitFor(t, "the collector's profile merged from the node's draft", func() bool {
		r, err := consumer.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest}})
		if err != nil {
			return false
		}
		merged = r.Profile
		p, err := profile.Decode("collector", merged.Yaml)
		return err == nil && len(p.Spec.Network) > 0
	})
	if _, err := consumer.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: digest,
		Mode: vigilv1.ProfileMode_PROFILE_MODE_MONITOR, ExpectVersion: merged.Version}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	waitFor(t, "the promoted profile pushed to the agent", func() bool {
		p, ok := a.ProfileInForce(digest)
		return ok && p.Metadata.Mode == profile.ModeMonitor
	})

	execIn(t, c, "nc -w 1 127.0.0.1 9999 </dev/null; true")
	var alerts []*vigilv1.Alert
	waitFor(t, "the violation stored by the collector", func() bool {
		r, err := consumer.ListAlerts(ctx, &vigilv1.ListAlertsRequest{})
		if err != nil {
			return false
		}
		alerts = r.Alerts
		return len(alerts) > 0
	})
	al := alerts[0]
	if len(alerts) != 1 || al.Node != "loop-node" || al.Container.GetId() != c.ID || al.Container.GetImageDigest() != digest ||
		al.Object.GetPort() != 9999 || al.ProfileVersion < merged.Version {
		t.Errorf("collector holds %d alerts, first %v; want one for the connect to port 9999 from %s", len(alerts), al, c.ID)
	}

	nodes, err := consumer.ListNodes(ctx, &vigilv1.ListNodesRequest{})
	if err != nil || len(nodes.Nodes) != 1 {
		t.Fatalf("nodes = %v, %v", nodes, err)
	}
	st := nodes.Nodes[0]
	if st.Node != "loop-node" || st.Kernel == "" || st.Counters["events_exec"] == 0 || len(st.Enforcement) != len(a.Tiers()) {
		t.Errorf("node status = %v", st)
	}
}

// collectorFor starts a collector with certificates for node and for an
// admin consumer; it returns the consumer's client and the settings with
// which node's agent reaches the collector, reporting status every status.
func collectorFor(t *testing.T, node string, status time.Duration) (vigilv1.ConsumerServiceClient, agent.CollectorConfig) {
	t.Helper()
	c := startCollectorFor(t, node, status)
	return c.consumer, c.agent
}

// testCollector is a collector of a test's, with what its clients need.
type testCollector struct {
	consumer vigilv1.ConsumerServiceClient
	agent    agent.CollectorConfig
	// certs holds the PKI (the consumer's certificate is admin's); db is
	// the collector's SQLite database.
	certs, db string
}

// startCollectorFor is collectorFor, with the certificates' directory and
// the collector's database.
func startCollectorFor(t *testing.T, node string, status time.Duration) testCollector {
	t.Helper()
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"localhost", "127.0.0.1"},
		Nodes: []string{node}, Consumers: []string{"admin"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	db := collectortest.Start(t, addr, certs)
	certFile, keyFile := pki.ClientFiles(node)
	return testCollector{consumer: testutil.ConsumerClient(t, certs, addr), certs: certs, db: db,
		agent: agent.CollectorConfig{Address: addr, Cert: filepath.Join(certs, certFile), Key: filepath.Join(certs, keyFile),
			CA: filepath.Join(certs, pki.CAFile), ServerName: "localhost", StatusInterval: status}}
}

// TestNodeListedAtStart starts an agent whose status interval is an hour:
// the collector lists the node all the same, from the report it sends at
// start, with where its sensor sees opens and connects: where a sensor
// started on this kernel would, and why.
func TestNodeListedAtStart(t *testing.T) {
	testutil.RequireRoot(t)
	consumer, collectorCfg := collectorFor(t, "start-node", time.Hour)
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.AlertsFile, cfg.ContainerdSocket, cfg.PinDir = "start-node", t.TempDir(), "", "", ""
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{testutil.NewCgroup(t).ID}
	cfg.Collector = collectorCfg
	a, _ := startAgent(t, cfg)

	waitFor(t, "the node listed by the collector", func() bool {
		nodes, err := consumer.ListNodes(context.Background(), &vigilv1.ListNodesRequest{})
		return err == nil && len(nodes.Nodes) == 1 && nodes.Nodes[0].Node == "start-node" && len(nodes.Nodes[0].Enforcement) == len(a.Tiers())
	})
	nodes, err := consumer.ListNodes(context.Background(), &vigilv1.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, h := range nodes.Nodes[0].SensorHooks {
		got = append(got, fmt.Sprintf("%s at %s (%s)", h.Kind.ShortName(), h.Attach, h.Reason))
	}
	for _, h := range sensor.ProbeHooks() {
		want = append(want, fmt.Sprintf("%s at %s (%s)", h.Type, h.Attach, h.Reason))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the node's sensor hooks as the collector lists them:\n  %s\nwant, as probed here:\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	t.Logf("sensor hooks: %s", strings.Join(got, "; "))
}
