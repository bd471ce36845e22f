package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// TestPosture: the posture a node reports is listed per container, as a
// table and as JSON, and --node filters.
func TestPosture(t *testing.T) {
	c := startCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := &vigilv1.NodeStatus{Postures: []*vigilv1.ContainerPosture{
		{ContainerId: "c1", Image: "nginx:1.27", Pod: "web-0", Namespace: "shop", ContainerName: "nginx", PssLevel: "baseline",
			Findings: []string{"run_as_root", "unused_capabilities"}, UnusedCapabilities: []string{"CAP_NET_RAW", "CAP_MKNOD"}},
		{ContainerId: "c2", Image: "agent:2", Pod: "agent-x", Namespace: "kube-system", ContainerName: "agent", PssLevel: "privileged",
			Findings: []string{"privileged", "host_pid"}, NotBaseline: []string{"privileged", "host_pid"}},
	}}
	if _, err := c.agent.ReportStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, c.flags("posture")...)
	if err != nil {
		t.Fatal(err, out)
	}
	t.Logf("vigilctl posture:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "PSS") ||
		!strings.Contains(lines[1], "node-a") || !strings.Contains(lines[1], "shop/web-0/nginx") || !strings.Contains(lines[1], "baseline") ||
		!strings.Contains(lines[1], "CAP_NET_RAW,CAP_MKNOD") || !strings.Contains(lines[2], "privileged,host_pid") {
		t.Fatalf("posture table:\n%s", out)
	}
	out, err = run(t, nil, c.flags("posture", "-o", "json")...)
	if err != nil {
		t.Fatal(err, out)
	}
	var doc struct {
		Node    string
		Posture struct {
			PssLevel    string   `json:"pss_level"`
			NotBaseline []string `json:"not_baseline"`
		}
	}
	last := strings.Split(strings.TrimSpace(out), "\n")[1]
	if err := json.Unmarshal([]byte(last), &doc); err != nil || doc.Node != "node-a" || doc.Posture.PssLevel != "privileged" || len(doc.Posture.NotBaseline) != 2 {
		t.Fatalf("posture -o json: %v\n%s", err, out)
	}
	if out, err := run(t, nil, c.flags("posture", "--node", "node-b")...); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("--node node-b: %v\n%s", err, out)
	}
}
