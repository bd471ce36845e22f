package join_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pkg/agentcert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/collector"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/test/kubeenv"
	"github.com/vigil-dev/vigil/test/testutil"
)

// The cluster the join tests set up: the agents' namespace and account as
// deploy/daemonset names them, and the accounts a join must refuse.
const (
	agentsNS   = "vigil"
	agentSA    = "vigil-agent"
	otherNS    = "elsewhere"
	intruderSA = "intruder"
	audience   = "vigil"
)

const clusterYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: vigil}
---
apiVersion: v1
kind: Namespace
metadata: {name: elsewhere}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: vigil-agent, namespace: vigil}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: vigil-collector, namespace: vigil}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: intruder, namespace: vigil}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: vigil-agent, namespace: elsewhere}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
`

// podYAML is a pod bound to node (no kubelet runs it: it stays Pending,
// which is all a token needs).
func podYAML(namespace, name, account, node string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  serviceAccountName: %s
  automountServiceAccountToken: false
  nodeName: %s
  containers:
    - {name: agent, image: vigil-agent}
`, name, namespace, account, node)
}

// cluster is a real API server with the objects above, and the collector's
// kubeconfig: its own ServiceAccount's token with deploy/daemonset's RBAC
// applied, so the joins prove that RBAC is enough.
type cluster struct {
	env        *kubeenv.Env
	kubeconfig string
}

func startCluster(t *testing.T) *cluster {
	env := kubeenv.Start(t)
	env.Apply(t, clusterYAML)
	rbac := filepath.Join(repoRoot(t), "deploy/daemonset/base/collector-rbac.yaml")
	env.Kubectl(t, "apply", "-n", agentsNS, "-f", rbac)
	for _, p := range []struct{ ns, name, sa, node string }{
		{agentsNS, "agent-a", agentSA, "node-a"}, {agentsNS, "agent-b", agentSA, "node-b"},
		{agentsNS, "intruder", intruderSA, "node-a"}, {otherNS, "agent-x", agentSA, "node-a"},
	} {
		env.Apply(t, podYAML(p.ns, p.name, p.sa, p.node))
	}
	kubeconfig := filepath.Join(t.TempDir(), "collector.kubeconfig")
	if err := os.WriteFile(kubeconfig, env.ServiceAccountKubeconfig(t, agentsNS, "vigil-collector", time.Hour), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cluster{env: env, kubeconfig: kubeconfig}
}

// tokenFor is a projected token of the pod, as the kubelet writes it.
func (c *cluster) tokenFor(t *testing.T, namespace, account, pod, aud string) string {
	return c.env.ServiceAccountToken(t, namespace, account, pod, aud, time.Hour)
}

// collectorUnderTest is a real collector (collector.Run) serving joins on a
// loopback port.
type collectorUnderTest struct {
	addr, http, certs string
}

// makeCerts is the collector's CA, serving certificate and an operator's
// certificate (admin), for the agents' CA file before the collector runs.
func makeCerts(t *testing.T) string {
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1", "localhost"}, Consumers: []string{"admin"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return certs
}

func startCollector(t *testing.T, c *cluster, addr string, certTTL time.Duration, certs string) *collectorUnderTest {
	cu := &collectorUnderTest{addr: addr, http: testutil.FreeAddr(t), certs: certs}
	cfg := collector.DefaultConfig()
	cfg.Listen, cfg.HTTPListen = cu.addr, cu.http
	cfg.TLSCert, cfg.TLSKey = filepath.Join(certs, pki.ServerCertFile), filepath.Join(certs, pki.ServerKeyFile)
	cfg.ClientCA, cfg.CAKey = filepath.Join(certs, pki.CAFile), filepath.Join(certs, pki.CAKeyFile)
	cfg.Store = "sqlite:" + filepath.Join(t.TempDir(), "collector.db")
	cfg.DraftMinNodes = 1
	cfg.Kubeconfig = c.kubeconfig
	cfg.Join = collector.JoinConfig{Enabled: true, Audience: audience, Namespace: agentsNS,
		ServiceAccount: agentSA, CertTTL: certTTL, MaxInFlight: 32, MaxConnections: 64}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	testutil.RunUntilCleanup(t, "collector", func(ctx context.Context) error { return collector.Run(ctx, cfg, log) })
	waitFor(t, 30*time.Second, "the collector's /readyz", func() bool {
		r, err := http.Get("http://" + cu.http + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
	return cu
}

// metric reads one sample of the collector's /metrics.
func (cu *collectorUnderTest) metric(t *testing.T, sample string) string {
	t.Helper()
	r, err := http.Get("http://" + cu.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return "0"
}

func (cu *collectorUnderTest) roots(t *testing.T) *x509.CertPool {
	pool, err := pki.LoadPool(filepath.Join(cu.certs, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// join calls Join as a joining agent does (no client certificate) with a
// request for key, whose subject claims claimNode.
func (cu *collectorUnderTest) join(t *testing.T, token string, key *ecdsa.PrivateKey, claimNode string) (*vigilv1.JoinResponse, error) {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: claimNode, OrganizationalUnit: []string{string(pki.RoleAgent)}}, DNSNames: []string{claimNode}}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(cu.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: cu.roots(t)})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return vigilv1.NewJoinServiceClient(conn).Join(ctx, &vigilv1.JoinRequest{ServiceAccountToken: token, CsrDer: csr})
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestJoin: an agent joins with its pod's token only and streams as the
// pod's node; tokens of another namespace, another account, another
// audience, a deleted pod, no pod, or none at all are refused; a request
// claiming another node gets the pod's.
func TestJoin(t *testing.T) {
	c := startCluster(t)
	addr := testutil.FreeAddr(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokenFile, c.tokenFor(t, agentsNS, agentSA, "agent-a", audience))

	// The agent starts before the collector: it retries until it can join.
	certs := makeCerts(t)
	joiner := startJoiner(t, addr, tokenFile, certs)
	time.Sleep(500 * time.Millisecond)
	if joiner.Current() != nil {
		t.Fatal("joined with no collector running")
	}
	cu := startCollector(t, c, addr, time.Hour, certs)
	waitFor(t, 30*time.Second, "the agent's first certificate", func() bool { return joiner.Current() != nil })
	if got := joiner.Current().Leaf.Subject.CommonName; got != "node-a" {
		t.Fatalf("certificate for %q, want the pod's node node-a", got)
	}

	// The certificate is an agent's for node-a: alerts it streams are node-a's.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(joiner.TLS())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sendAlert(t, conn, "joined-1")
	consumer := testutil.ConsumerClient(t, cu.certs, addr)
	waitFor(t, 10*time.Second, "the alert, stored as node-a's", func() bool {
		r, err := consumer.ListAlerts(context.Background(), &vigilv1.ListAlertsRequest{})
		return err == nil && slices.ContainsFunc(r.GetAlerts(), func(a *vigilv1.Alert) bool { return a.GetId() == "joined-1" && a.GetNode() == "node-a" })
	})

	// Claiming another node in the request changes nothing.
	key := newKey(t)
	resp, err := cu.join(t, c.tokenFor(t, agentsNS, agentSA, "agent-a", audience), key, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(resp.GetCertificateDer())
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "node-a" || len(cert.DNSNames) != 0 || resp.GetNode() != "node-a" {
		t.Fatalf("a request claiming node-b got CN %q, DNS %v, node %q", cert.Subject.CommonName, cert.DNSNames, resp.GetNode())
	}
	if id, err := pki.IdentityOf(cert); err != nil || id != (pki.Identity{Name: "node-a", Role: pki.RoleAgent}) {
		t.Fatalf("identity %+v, %v", id, err)
	}

	// The other agent's pod gives the other node.
	resp, err = cu.join(t, c.tokenFor(t, agentsNS, agentSA, "agent-b", audience), newKey(t), "")
	if err != nil || resp.GetNode() != "node-b" {
		t.Fatalf("agent-b joined as %q: %v", resp.GetNode(), err)
	}

	// A token with 15 minutes left buys a certificate that ends with it, not
	// the collector's hour.
	short := c.env.ServiceAccountToken(t, agentsNS, agentSA, "agent-a", audience, 15*time.Minute)
	exp := tokenExp(t, short)
	if left := time.Until(exp); left > 15*time.Minute || left < 10*time.Minute {
		t.Fatalf("the 15-minute token expires in %v", left)
	}
	resp, err = cu.join(t, short, newKey(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(resp.GetCertificateDer()); err != nil {
		t.Fatal(err)
	}
	if cert.NotAfter.After(exp) || !resp.GetNotAfter().AsTime().Equal(cert.NotAfter) {
		t.Fatalf("a token expiring at %v got a certificate until %v (response says %v)", exp, cert.NotAfter, resp.GetNotAfter().AsTime())
	}
	if cert.NotAfter.Before(exp.Add(-time.Minute)) {
		t.Fatalf("a token expiring at %v got a certificate until only %v", exp, cert.NotAfter)
	}

	deletedToken := c.tokenFor(t, agentsNS, agentSA, "agent-b", audience)
	c.env.Kubectl(t, "delete", "pod", "-n", agentsNS, "agent-b", "--grace-period=0", "--force", "--wait=true")
	unbound := strings.TrimSpace(c.env.Kubectl(t, "create", "token", agentSA, "-n", agentsNS, "--audience", audience))
	for _, tc := range []struct {
		name, token, reason string
		code                codes.Code
	}{
		{"another namespace", c.tokenFor(t, otherNS, agentSA, "agent-x", audience), "wrong_service_account", codes.PermissionDenied},
		{"another service account", c.tokenFor(t, agentsNS, intruderSA, "intruder", audience), "wrong_service_account", codes.PermissionDenied},
		{"another audience", c.tokenFor(t, agentsNS, agentSA, "agent-a", "kubernetes.default.svc"), "invalid_token", codes.Unauthenticated},
		{"a deleted pod", deletedToken, "invalid_token", codes.Unauthenticated},
		{"no pod", unbound, "not_pod_bound", codes.PermissionDenied},
		{"garbage", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl", "invalid_token", codes.Unauthenticated},
	} {
		before := cu.metric(t, `vigil_collector_joins_total{result="`+tc.reason+`"}`)
		_, err := cu.join(t, tc.token, newKey(t), "")
		if status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
		if after := cu.metric(t, `vigil_collector_joins_total{result="`+tc.reason+`"}`); after == before {
			t.Errorf("%s: not counted as %s (%s)", tc.name, tc.reason, after)
		}
	}

	// What a join costs, as an agent makes it: a new connection without a
	// certificate, the TokenReview, the pod read, the signing.
	const n = 50
	token := c.tokenFor(t, agentsNS, agentSA, "agent-a", audience)
	var took []time.Duration
	for range n {
		start := time.Now()
		if _, err := cu.join(t, token, newKey(t), ""); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("join latency over %d joins: median %v, p95 %v, min %v, max %v", n, took[n/2], took[n*95/100], took[0], took[n-1])
}

// TestJoinedCertificateRenewed: with certificates of a few seconds, the
// agent renews without a restart, reading its token file again each time
// (a bad token fails and is retried), and a stream opened with the first
// certificate goes on.
func TestJoinedCertificateRenewed(t *testing.T) {
	c := startCluster(t)
	addr := testutil.FreeAddr(t)
	certs := makeCerts(t)
	cu := startCollector(t, c, addr, 4*time.Second, certs)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokenFile, c.tokenFor(t, agentsNS, agentSA, "agent-a", audience))
	joiner := startJoiner(t, addr, tokenFile, certs)
	waitFor(t, 30*time.Second, "the first certificate", func() bool { return joiner.Current() != nil })
	first := joiner.Current().Leaf

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(joiner.TLS())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := vigilv1.NewAgentServiceClient(conn).StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(seq uint64, id string) {
		t.Helper()
		if err := stream.Send(&vigilv1.AlertBatch{Seq: seq, Alerts: []*vigilv1.Alert{testAlert(id)}}); err != nil {
			t.Fatal(err)
		}
		ack, err := stream.Recv()
		if err != nil || ack.GetSeq() != seq || len(ack.GetIds()) != 1 {
			t.Fatalf("ack %v: %v", ack, err)
		}
	}
	send(1, "before-renewal")

	// The kubelet's next token is garbage for a while: renewals fail and
	// are retried, then succeed with the token the kubelet writes next.
	writeToken(t, tokenFile, "not-a-token")
	time.Sleep(3 * time.Second)
	if got := joiner.Current().Leaf; got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("renewed with a garbage token")
	}
	writeToken(t, tokenFile, c.tokenFor(t, agentsNS, agentSA, "agent-a", audience))
	waitFor(t, 20*time.Second, "a renewed certificate", func() bool {
		return joiner.Current().Leaf.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	if got := cu.metric(t, `vigil_collector_joins_total{result="invalid_token"}`); got == "0" {
		t.Error("the garbage token's joins were not refused")
	}
	// Past the first certificate's end, the stream opened with it goes on,
	// and new connections use the renewed one.
	time.Sleep(time.Until(first.NotAfter) + 500*time.Millisecond)
	send(2, "after-expiry")
	second, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(joiner.TLS())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	sendAlert(t, second, "new-connection")
}

// startJoiner runs an agent's joiner (pkg/agentcert) against addr until the
// test ends, trusting the CA in certs.
func startJoiner(t *testing.T, addr, tokenFile, certs string) *agentcert.Joiner {
	j, err := agentcert.New(agentcert.Options{Target: addr, TokenFile: tokenFile, CAFile: filepath.Join(certs, pki.CAFile),
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Timeout: 10 * time.Second,
		Logger: zaptest.NewLogger(t), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	testutil.RunUntilCleanup(t, "joiner", func(ctx context.Context) error { j.Run(ctx); return nil })
	return j
}

// writeToken replaces the token file at once, as the kubelet does.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

func testAlert(id string) *vigilv1.Alert {
	return &vigilv1.Alert{
		Id: id, Time: timestamppb.Now(), Node: "claimed-by-the-message", Kind: vigilv1.Kind_KIND_EXEC,
		Process: &vigilv1.Process{Pid: 7, Path: "/bin/sh"}, Object: &vigilv1.Object{Path: "/bin/sh"},
		Action: vigilv1.Action_ACTION_ALERTED, Count: 1,
	}
}

// sendAlert streams one alert on conn and waits for its acknowledgement.
func sendAlert(t *testing.T, conn *grpc.ClientConn, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := vigilv1.NewAgentServiceClient(conn).StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&vigilv1.AlertBatch{Seq: 1, Alerts: []*vigilv1.Alert{testAlert(id)}}); err != nil {
		t.Fatal(err)
	}
	ack, err := stream.Recv()
	if err != nil || len(ack.GetIds()) != 1 {
		t.Fatalf("alert %s: ack %v, %v", id, ack, err)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tokenExp is a JWT's exp claim, read without checking the signature.
func tokenExp(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == 0 {
		t.Fatalf("token claims %s: %v", payload, err)
	}
	return time.Unix(claims.Exp, 0)
}

// repoRoot is the module root: go test runs in pkg/join.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return dir
}
