package collector

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
)

func reportPolicy(t *testing.T, agent vigilv1.AgentServiceClient, p *vigilv1.ApprovalPolicy) error {
	t.Helper()
	_, err := agent.ReportStatus(testCtx(t, 10*time.Second), &vigilv1.NodeStatus{AgentVersion: "v1", ApprovalPolicy: p})
	return err
}

func policyOf(p approval.Policy) *vigilv1.ApprovalPolicy {
	doc, sum := p.Canonical()
	return &vigilv1.ApprovalPolicy{Canonical: doc, Sha256: sum}
}

// TestAuditApprovalPolicy: over mTLS gRPC, a node's first policy report and
// each change of it are recorded under the node's certificate identity with
// the policy before and after; a repeated report, or one with no policy,
// records nothing, also after the collector restarts; a report whose hash
// does not match its policy, or too large a policy, is refused.
func TestAuditApprovalPolicy(t *testing.T) {
	e := startEnv(t, nil)
	ops, nodeA, nodeB := e.consumer(t), e.agent(t, "node-a"), e.agent(t, "node-b")
	p1 := policyOf(approval.Policy{Images: []string{"docker.io/library/nginx"}, Action: approval.ActionAlert})
	p2 := policyOf(approval.Policy{Images: []string{"docker.io/library/nginx"}, Action: approval.ActionEnforce, RequireKnownDigest: true})
	for _, step := range []struct {
		agent vigilv1.AgentServiceClient
		p     *vigilv1.ApprovalPolicy
	}{{nodeA, p1}, {nodeA, p1}, {nodeA, nil}, {nodeB, p1}, {nodeA, p2}, {nodeA, p2}} {
		if err := reportPolicy(t, step.agent, step.p); err != nil {
			t.Fatal(err)
		}
	}
	bad := policyOf(approval.Policy{Action: approval.ActionOff})
	bad.Sha256 = p1.GetSha256()
	huge := policyOf(approval.Policy{Images: []string{strings.Repeat("x", maxPolicyBytes)}, Action: approval.ActionAlert})
	for name, p := range map[string]*vigilv1.ApprovalPolicy{"wrong hash": bad, "oversized": huge} {
		if err := reportPolicy(t, nodeA, p); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", name, err)
		}
	}

	// A restarted collector knows the last policy from the store.
	e2 := startEnvWithStore(t, e.ca, "127.0.0.1:0", e.store)
	if err := reportPolicy(t, e2.agent(t, "node-a"), p2); err != nil {
		t.Fatal(err)
	}

	recs := listAudit(t, ops, &vigilv1.AuditFilter{Action: actionPolicy})
	named := func(p *vigilv1.ApprovalPolicy) string { return "sha256:" + p.GetSha256() + " " + p.GetCanonical() }
	want := []struct{ actor, object, before, after, detail string }{
		{"node:node-a", "approval-policy:node-a", "", named(p1), "first reported"},
		{"node:node-b", "approval-policy:node-b", "", named(p1), "first reported"},
		{"node:node-a", "approval-policy:node-a", named(p1), named(p2), "changed"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d approval policy records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.GetActor() != w.actor || r.GetObject() != w.object || r.GetBefore() != w.before || r.GetAfter() != w.after || r.GetDetail() != w.detail {
			t.Errorf("record %d = %v\nwant %+v", i, r, w)
		}
	}
	if !strings.Contains(recs[2].GetAfter(), `"action":"enforce"`) {
		t.Errorf("after %q does not show the policy", recs[2].GetAfter())
	}
	if err := verifyRecords(listAudit(t, ops, nil)); err != nil {
		t.Fatal(err)
	}
	if n := metric(t, e.reg, "vigil_collector_audit_records_total", "action", actionPolicy); n != 3 {
		t.Errorf("audit records counted %v, want 3", n)
	}
}
