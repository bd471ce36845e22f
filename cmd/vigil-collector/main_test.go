package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/pki"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServesFromEnvironment runs the command configured through
// VIGIL_COLLECTOR_* variables until it is ready, then stops it.
func TestServesFromEnvironment(t *testing.T) {
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	for k, v := range map[string]string{
		"VIGIL_COLLECTOR_LISTEN":      "127.0.0.1:0",
		"VIGIL_COLLECTOR_HTTP_LISTEN": httpAddr,
		"VIGIL_COLLECTOR_TLS_CERT":    filepath.Join(certs, pki.ServerCertFile),
		"VIGIL_COLLECTOR_TLS_KEY":     filepath.Join(certs, pki.ServerKeyFile),
		"VIGIL_COLLECTOR_CLIENT_CA":   filepath.Join(certs, pki.CAFile),
		"VIGIL_COLLECTOR_STORE":       "sqlite:" + filepath.Join(t.TempDir(), "c.db"),
		"VIGIL_COLLECTOR_JSONL_FILE":  filepath.Join(t.TempDir(), "alerts.jsonl"),
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"--log-level", "warn"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("collector exited: %v", err)
		case <-ctx.Done():
			t.Fatal("collector not ready within 30s")
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("collector stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("collector did not stop")
	}
}

func TestRefusesMissingCertificates(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetArgs([]string{"--tls-cert", filepath.Join(t.TempDir(), "none.pem"), "--store", "sqlite:" + filepath.Join(t.TempDir(), "c.db")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err == nil {
		t.Fatal("started without its certificate")
	}
}
