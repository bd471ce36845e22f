package collector

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
)

// TestRefusedClients connects with certificates the collector must refuse;
// none of them may store anything.
func TestRefusedClients(t *testing.T) {
	e := startEnv(t, nil)
	other := newAuthority(t)
	valid := clientTLS(t, e.ca, pki.Request{CommonName: "node-a", Role: pki.RoleAgent})
	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: valid.RootCAs}
	expired := clientTLS(t, e.ca, pki.Request{CommonName: "node-a", Role: pki.RoleAgent, NotBefore: time.Now().Add(-2 * time.Hour), ValidFor: time.Hour})
	otherCA := clientTLS(t, other, pki.Request{CommonName: "node-a", Role: pki.RoleAgent})
	otherCA.RootCAs = valid.RootCAs // trusts the server; its own certificate is from another CA
	noRole := clientTLS(t, e.ca, pki.Request{CommonName: "node-a", Role: pki.Role("vigil-admin")})

	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		code codes.Code
		msg  string
	}{
		// The handshake fails: the client sees the server's TLS alert or,
		// racing it, the closed connection; either way UNAVAILABLE.
		{"no certificate", noCert, codes.Unavailable, ""},
		{"expired certificate", expired, codes.Unavailable, ""},
		{"certificate from another CA", otherCA, codes.Unavailable, ""},
		{"certificate without a role", noRole, codes.Unauthenticated, "exactly one role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			agent := vigilv1.NewAgentServiceClient(dial(t, e.addr, tc.cfg))
			_, err := agent.ReportStatus(ctx, &vigilv1.NodeStatus{})
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("ReportStatus: %v, want %v containing %q", err, tc.code, tc.msg)
			}
			stream, err := agent.StreamAlerts(ctx)
			if err == nil {
				stream.Send(batchOf(1, 0, 1))
				_, err = stream.Recv()
			}
			if status.Code(err) != tc.code {
				t.Fatalf("StreamAlerts: %v, want %v", err, tc.code)
			}
		})
	}
	if n := metric(t, e.reg, "vigil_collector_alerts_received_total"); n != 0 {
		t.Fatalf("collector received %v alerts from refused clients", n)
	}
	nodes, err := e.store.ListNodes(testCtx(t, 10*time.Second))
	if err != nil || len(nodes) != 0 {
		t.Fatalf("refused clients left node statuses: %v %v", nodes, err)
	}
}

func TestRolesSeparateTheAPIs(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 20*time.Second)
	agentConn := dial(t, e.addr, clientTLS(t, e.ca, pki.Request{CommonName: "node-a", Role: pki.RoleAgent}))
	consumerConn := dial(t, e.addr, clientTLS(t, e.ca, pki.Request{CommonName: "alice", Role: pki.RoleConsumer}))

	if _, err := vigilv1.NewConsumerServiceClient(agentConn).ListNodes(ctx, &vigilv1.ListNodesRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("agent calling the consumer API: %v, want PermissionDenied", err)
	}
	if _, err := vigilv1.NewAgentServiceClient(consumerConn).ReportStatus(ctx, &vigilv1.NodeStatus{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("consumer calling the agent API: %v, want PermissionDenied", err)
	}
	stream, err := vigilv1.NewAgentServiceClient(consumerConn).StreamAlerts(ctx)
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("consumer streaming alerts: %v, want PermissionDenied", err)
	}
	if _, err := vigilv1.NewConsumerServiceClient(consumerConn).ListNodes(ctx, &vigilv1.ListNodesRequest{}); err != nil {
		t.Errorf("consumer calling the consumer API: %v", err)
	}
	if n := metric(t, e.reg, "vigil_collector_calls_denied_total", "reason", "wrong_role"); n != 3 {
		t.Errorf("wrong_role denials = %v, want 3", n)
	}
}
