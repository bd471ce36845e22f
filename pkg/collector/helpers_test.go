package collector

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/store"
)

// env is a collector serving mTLS on a loopback port with a SQLite store.
type env struct {
	ca    *pki.Authority
	addr  string
	store store.Store
	reg   *prometheus.Registry
	c     *Collector
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newAuthority(t testing.TB) *pki.Authority {
	ca, err := pki.NewAuthority("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func serverTLS(t testing.TB, ca *pki.Authority) *tls.Config {
	is, err := ca.Issue(pki.Request{CommonName: "collector", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := is.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return pki.ServerTLS(kp, ca.Pool())
}

func startEnv(t testing.TB, tweak func(*Options)) *env {
	return startEnvAt(t, newAuthority(t), "127.0.0.1:0", tweak)
}

// startEnvAt starts a collector whose clients are signed by ca, on addr.
func startEnvAt(t testing.TB, ca *pki.Authority, addr string, tweak func(*Options)) *env {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return serveEnv(t, ca, addr, st, tweak)
}

// startEnvWithStore starts a collector on an existing store (a restart).
func startEnvWithStore(t testing.TB, ca *pki.Authority, addr string, st store.Store) *env {
	return serveEnv(t, ca, addr, st, nil)
}

func serveEnv(t testing.TB, ca *pki.Authority, addr string, st store.Store, tweak func(*Options)) *env {
	var err error
	e := &env{ca: ca, store: st, reg: prometheus.NewRegistry()}
	o := Options{TLS: serverTLS(t, ca), Store: st, Registerer: e.reg, Logger: zaptest.NewLogger(t)}
	if tweak != nil {
		tweak(&o)
	}
	e.c, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.c.Serve(l) }()
	t.Cleanup(func() {
		e.c.Stop(testCtx(t, 10*time.Second))
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

// clientTLS issues a client certificate from ca.
func clientTLS(t testing.TB, ca *pki.Authority, r pki.Request) *tls.Config {
	if r.ValidFor == 0 {
		r.ValidFor = time.Hour
	}
	is, err := ca.Issue(r)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := is.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return pki.ClientTLS(kp, ca.Pool(), "")
}

func dial(t testing.TB, addr string, cfg *tls.Config) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (e *env) agent(t testing.TB, node string) vigilv1.AgentServiceClient {
	return vigilv1.NewAgentServiceClient(dial(t, e.addr, clientTLS(t, e.ca, pki.Request{CommonName: node, Role: pki.RoleAgent})))
}

func (e *env) consumer(t testing.TB) vigilv1.ConsumerServiceClient {
	return vigilv1.NewConsumerServiceClient(dial(t, e.addr, clientTLS(t, e.ca, pki.Request{CommonName: "alice", Role: pki.RoleConsumer})))
}

// metric returns the value of a counter or gauge in reg, 0 if absent.
func metric(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func testAlert(id string) *vigilv1.Alert {
	return &vigilv1.Alert{
		Id:        id,
		Time:      timestamppb.New(t0),
		Node:      "claimed-by-message",
		Container: &vigilv1.Container{Id: "c1", Image: "nginx:1.27", ImageDigest: "sha256:aaa", Pod: "web-0", Namespace: "shop"},
		Process:   &vigilv1.Process{Pid: 7, Path: "/bin/sh", Argv: []string{"sh"}},
		Kind:      vigilv1.Kind_KIND_EXEC,
		Object:    &vigilv1.Object{Path: "/bin/sh"},
		Action:    vigilv1.Action_ACTION_ALERTED,
		Count:     1,
	}
}

func batchOf(seq uint64, from, n int) *vigilv1.AlertBatch {
	b := &vigilv1.AlertBatch{Seq: seq}
	for i := from; i < from+n; i++ {
		b.Alerts = append(b.Alerts, testAlert(fmt.Sprintf("alert-%06d", i)))
	}
	return b
}

// waitFed waits until the live tail's feed has published every stored alert.
func (e *env) waitFed(t *testing.T) {
	t.Helper()
	_, last, err := e.store.AlertSeqRange(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.c.feed.cursor.Load() >= last })
}
