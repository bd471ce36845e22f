package collector

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/client-go/rest"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/join"
	"github.com/vigil-dev/vigil/pkg/pki"
)

// TestCallersWithoutCertificate: with joins served, a caller without a
// client certificate reaches Join and nothing else, and such connections
// are capped and short-lived. The join server's Kubernetes API is a closed
// port here and the join a malformed one, refused before any API call: what
// is checked is that it reaches the join server (the joins against a real
// API server are pkg/join's tests).
func TestCallersWithoutCertificate(t *testing.T) {
	ca := newAuthority(t)
	joins, err := join.New(join.Options{Kube: &rest.Config{Host: "https://127.0.0.1:1"}, Namespace: "vigil", ServiceAccount: "vigil-agent",
		Authority: func() *pki.Authority { return ca }, Registerer: prometheus.NewRegistry(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := startEnvAt(t, ca, "127.0.0.1:0", func(o *Options) {
		o.TLS = serverTLS(t, ca)
		o.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		o.Join, o.AnonymousConns, o.AnonymousConnAge = joins, 2, 2*time.Second
	})
	anonymous := func() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool()} }
	code := func(err error) codes.Code { return status.Code(err) }

	conn := dial(t, e.addr, anonymous())
	_, err = vigilv1.NewJoinServiceClient(conn).Join(testCtx(t, 10*time.Second), &vigilv1.JoinRequest{ServiceAccountToken: "x", CsrDer: []byte("x")})
	if code(err) != codes.InvalidArgument {
		t.Fatalf("join with a bad request: %v, want InvalidArgument from the join server", err)
	}
	if _, err := vigilv1.NewConsumerServiceClient(conn).ListNodes(testCtx(t, 10*time.Second), &vigilv1.ListNodesRequest{}); code(err) != codes.Unauthenticated {
		t.Fatalf("consumer call without a certificate: %v", err)
	}
	if _, err := vigilv1.NewAgentServiceClient(conn).ReportStatus(testCtx(t, 10*time.Second), &vigilv1.NodeStatus{}); code(err) != codes.Unauthenticated {
		t.Fatalf("agent call without a certificate: %v", err)
	}
	// A certificate still works beside them.
	if _, err := e.consumer(t).ListNodes(testCtx(t, 10*time.Second), &vigilv1.ListNodesRequest{}); err != nil {
		t.Fatal(err)
	}

	// Two anonymous connections at once, the third is closed.
	second := dial(t, e.addr, anonymous())
	if _, err := vigilv1.NewConsumerServiceClient(second).ListNodes(testCtx(t, 10*time.Second), &vigilv1.ListNodesRequest{}); code(err) != codes.Unauthenticated {
		t.Fatalf("second anonymous connection: %v", err)
	}
	third := dial(t, e.addr, anonymous())
	if _, err := vigilv1.NewConsumerServiceClient(third).ListNodes(testCtx(t, 3*time.Second), &vigilv1.ListNodesRequest{}); code(err) != codes.Unavailable {
		t.Fatalf("third anonymous connection: %v, want it closed", err)
	}
	if n := metric(t, e.reg, "vigil_collector_calls_refused_total", "reason", "anonymous_connections"); n < 1 {
		t.Fatalf("refused anonymous connections counted %v", n)
	}
	// They end after their age, freeing the cap.
	waitFor(t, func() bool {
		_, err := vigilv1.NewConsumerServiceClient(dial(t, e.addr, anonymous())).ListNodes(testCtx(t, time.Second), &vigilv1.ListNodesRequest{})
		return code(err) == codes.Unauthenticated
	})
}

func TestJoinNeedsOptionalClientCertificates(t *testing.T) {
	ca := newAuthority(t)
	joins, err := join.New(join.Options{Kube: &rest.Config{Host: "https://127.0.0.1:1"}, Namespace: "vigil", ServiceAccount: "vigil-agent",
		Authority: func() *pki.Authority { return ca }, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	st := startEnvAt(t, ca, "127.0.0.1:0", nil).store
	for _, tc := range []struct {
		auth tls.ClientAuthType
		join *join.Server
	}{{tls.VerifyClientCertIfGiven, nil}, {tls.RequireAndVerifyClientCert, joins}, {tls.RequestClientCert, joins}} {
		cfg := serverTLS(t, ca)
		cfg.ClientAuth = tc.auth
		if _, err := New(Options{TLS: cfg, Join: tc.join, Store: st, Registerer: prometheus.NewRegistry()}); err == nil {
			t.Errorf("client auth %v with join %v accepted", tc.auth, tc.join != nil)
		}
	}
}
