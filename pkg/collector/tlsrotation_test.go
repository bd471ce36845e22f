package collector

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
)

// handshakes records the serving certificate of every handshake a client
// configuration makes.
type handshakes struct {
	mu      sync.Mutex
	serials []*big.Int
}

func (h *handshakes) watch(cfg *tls.Config) *tls.Config {
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.serials = append(h.serials, cs.PeerCertificates[0].SerialNumber)
		return nil
	}
	return cfg
}

func (h *handshakes) seen() []*big.Int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*big.Int(nil), h.serials...)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	// As the kubelet and cert-manager do: the new content appears at once.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func certSerial(t *testing.T, certPEM []byte) *big.Int {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber
}

// TestServingCertificateRotation rewrites the collector's serving
// certificate and client CA files while it serves: a new connection gets
// the new certificate, a connection made before keeps working, clients of
// a CA added to the bundle are let in, and a broken file keeps the last
// good certificate.
func TestServingCertificateRotation(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.WriteSetup(dir, pki.Setup{ServerNames: []string{"127.0.0.1"}, Consumers: []string{"alice"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	cfg := DefaultConfig()
	cfg.TLSCert, cfg.TLSKey, cfg.ClientCA = path(pki.ServerCertFile), path(pki.ServerKeyFile), path(pki.CAFile)
	tlsReg := prometheus.NewRegistry()
	material, err := loadTLS(cfg, tlsReg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, time.Minute)
	go material.run(ctx, 20*time.Millisecond)
	ca, err := pki.LoadAuthority(path(pki.CAFile), path(pki.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	e := startEnvAt(t, ca, "127.0.0.1:0", func(o *Options) { o.TLS = material.serverTLS(tls.RequireAndVerifyClientCert) })
	aliceCert, aliceKey := pki.ClientFiles("alice")
	consumerTLS := func(h *handshakes) *tls.Config {
		cfg, err := pki.ClientTLSFiles(path(aliceCert), path(aliceKey), path(pki.CAFile), "")
		if err != nil {
			t.Fatal(err)
		}
		return h.watch(cfg)
	}
	call := func(c vigilv1.ConsumerServiceClient) error {
		_, err := c.ListNodes(testCtx(t, 10*time.Second), &vigilv1.ListNodesRequest{})
		return err
	}

	var oldConn handshakes
	old := vigilv1.NewConsumerServiceClient(dial(t, e.addr, consumerTLS(&oldConn)))
	if err := call(old); err != nil {
		t.Fatal(err)
	}
	first := oldConn.seen()
	if len(first) != 1 || first[0].Cmp(certSerial(t, mustRead(t, path(pki.ServerCertFile)))) != 0 {
		t.Fatalf("first connection saw %v", first)
	}

	// cert-manager renews the serving certificate.
	renewed, err := ca.Issue(pki.Request{CommonName: "vigil-collector", IPAddresses: material.files.Current().Leaf.IPAddresses, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path(pki.ServerKeyFile), renewed.KeyPEM)
	writeFile(t, path(pki.ServerCertFile), renewed.CertPEM)
	waitFor(t, func() bool {
		return metric(t, tlsReg, "vigil_collector_tls_reloads_total", "material", "serving", "result", "loaded") >= 1
	})

	var newConn handshakes
	fresh := vigilv1.NewConsumerServiceClient(dial(t, e.addr, consumerTLS(&newConn)))
	if err := call(fresh); err != nil {
		t.Fatal(err)
	}
	if got := newConn.seen(); len(got) != 1 || got[0].Cmp(certSerial(t, renewed.CertPEM)) != 0 {
		t.Fatalf("new connection saw %v, want the renewed certificate %v", got, certSerial(t, renewed.CertPEM))
	}
	if err := call(old); err != nil {
		t.Fatalf("the connection made before the rotation: %v", err)
	}
	if got := oldConn.seen(); len(got) != 1 {
		t.Fatalf("the old connection handshook again: %v", got)
	}

	// A new CA joins the bundle: its clients are let in, the old CA's too.
	ca2, err := pki.NewAuthority("vigil CA 2", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bob := clientTLS(t, ca2, pki.Request{CommonName: "bob", Role: pki.RoleConsumer})
	bob.RootCAs = ca.Pool()
	if err := call(vigilv1.NewConsumerServiceClient(dial(t, e.addr, bob))); err == nil {
		t.Fatal("a client of a CA not yet in the bundle was let in")
	}
	writeFile(t, path(pki.CAFile), append(mustRead(t, path(pki.CAFile)), ca2.CertPEM()...))
	waitFor(t, func() bool {
		return metric(t, tlsReg, "vigil_collector_tls_reloads_total", "material", "client_ca", "result", "loaded") >= 1
	})
	if err := call(vigilv1.NewConsumerServiceClient(dial(t, e.addr, bob))); err != nil {
		t.Fatalf("a client of the CA added to the bundle: %v", err)
	}
	if err := call(vigilv1.NewConsumerServiceClient(dial(t, e.addr, consumerTLS(&handshakes{})))); err != nil {
		t.Fatalf("a client of the first CA after the bundle changed: %v", err)
	}

	// A half-written certificate keeps the last good one.
	writeFile(t, path(pki.ServerCertFile), []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	waitFor(t, func() bool {
		return metric(t, tlsReg, "vigil_collector_tls_reloads_total", "material", "serving", "result", "failed") >= 1
	})
	var afterBad handshakes
	if err := call(vigilv1.NewConsumerServiceClient(dial(t, e.addr, consumerTLS(&afterBad)))); err != nil {
		t.Fatalf("after a broken file: %v", err)
	}
	if got := afterBad.seen(); len(got) != 1 || got[0].Cmp(certSerial(t, renewed.CertPEM)) != 0 {
		t.Fatalf("after a broken file the collector served %v, want the last good %v", got, certSerial(t, renewed.CertPEM))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOwnServingCertificateRenewed: with --server-names the collector
// issues its serving certificate from its CA and renews it while serving.
func TestOwnServingCertificateRenewed(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.WriteSetup(dir, pki.Setup{Consumers: []string{"alice"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	cfg := DefaultConfig()
	cfg.ClientCA, cfg.CAKey = path(pki.CAFile), path(pki.CAKeyFile)
	// Certificate times have whole seconds: a sub-second lifetime could end
	// before the first handshake. Six seconds leave the first handshake
	// time under the race detector and renew within the test's wait.
	cfg.ServerNames, cfg.ServerCertTTL = []string{"127.0.0.1", "vigil-collector.vigil.svc"}, 6*time.Second
	tlsReg := prometheus.NewRegistry()
	material, err := loadTLS(cfg, tlsReg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	go material.run(testCtx(t, time.Minute), time.Hour)
	ca := material.ca.Current()
	e := startEnvAt(t, ca, "127.0.0.1:0", func(o *Options) { o.TLS = material.serverTLS(tls.RequireAndVerifyClientCert) })
	first := material.own.current().Leaf
	if got := first.DNSNames; len(got) != 1 || got[0] != "vigil-collector.vigil.svc" {
		t.Fatalf("DNS names %v", got)
	}
	serving := func() *big.Int {
		var h handshakes
		c := vigilv1.NewConsumerServiceClient(dial(t, e.addr, h.watch(clientTLS(t, ca, pki.Request{CommonName: "alice", Role: pki.RoleConsumer}))))
		if _, err := c.ListNodes(testCtx(t, 10*time.Second), &vigilv1.ListNodesRequest{}); err != nil {
			t.Fatal(err)
		}
		return h.seen()[0]
	}
	if got := serving(); got.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("served %v, want %v", got, first.SerialNumber)
	}
	waitFor(t, func() bool {
		return metric(t, tlsReg, "vigil_collector_tls_reloads_total", "material", "serving", "result", "loaded") >= 1
	})
	if got := serving(); got.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the renewed certificate is not served")
	}
}
