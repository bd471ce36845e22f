package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestServesFromEnvironment runs the command configured through
// VIGIL_COLLECTOR_* variables until it is ready, then stops it.
func TestServesFromEnvironment(t *testing.T) {
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	httpAddr := testutil.FreeAddr(t)
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

// serveUntilReady runs the command with args until /readyz answers at
// httpAddr, then stops it; it fails the test if the collector exits first or
// does not stop.
func serveUntilReady(t *testing.T, args []string, httpAddr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	for ready := false; !ready; {
		if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
		select {
		case err := <-done:
			t.Fatalf("collector exited before serving on %s: %v", httpAddr, err)
		case <-ctx.Done():
			t.Fatalf("collector not ready on %s within 30s", httpAddr)
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

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFileOrder: a setting comes from the command line, else the
// environment, else the --config file, else its default. Which source won
// shows in where the collector serves.
func TestConfigFileOrder(t *testing.T) {
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	fromFile, fromEnv, fromFlag := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	config := writeConfig(t, fmt.Sprintf(`listen: 127.0.0.1:0
http-listen: %s
tls-cert: %s
tls-key: %s
client-ca: %s
store: sqlite:%s
log-level: warn
`, fromFile, filepath.Join(certs, pki.ServerCertFile), filepath.Join(certs, pki.ServerKeyFile),
		filepath.Join(certs, pki.CAFile), filepath.Join(t.TempDir(), "c.db")))

	serveUntilReady(t, []string{"--config", config}, fromFile)
	t.Setenv("VIGIL_COLLECTOR_HTTP_LISTEN", fromEnv)
	serveUntilReady(t, []string{"--config", config}, fromEnv)
	serveUntilReady(t, []string{"--config", config, "--http-listen", fromFlag}, fromFlag)
	t.Setenv("VIGIL_COLLECTOR_CONFIG", config)
	serveUntilReady(t, []string{"--http-listen", fromFlag}, fromFlag)
}

// TestConfigErrorsNameTheSetting: a bad config stops the collector before
// it opens anything, with a message naming the setting (and, for the file,
// its line).
func TestConfigErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{name: "unknown key", file: "store: sqlite:/nonexistent/c.db\nlisten-addr: :1\n", want: ":2: listen-addr: unknown setting"},
		{name: "bad duration", file: "prune-every: hourly\n", want: ":1: prune-every: invalid argument"},
		{name: "not a mapping", file: "- listen\n", want: "want a mapping"},
		{name: "zero queue", file: "sink-queue: 0\n", want: "sink-queue: must be positive, got 0"},
		{name: "negative retention", file: "retention-bytes: -1\n", want: "retention-bytes: must not be negative"},
		{name: "webhook", file: "webhook-url: falcosidekick:2801\n", want: "webhook-url: want an http:// or https:// URL"},
		{name: "empty store", file: "store: \"\"\n", want: "store: must not be empty"},
		{name: "bad environment", file: "log-level: info\n", env: map[string]string{"VIGIL_COLLECTOR_MAX_MESSAGE_BYTES": "4MiB"},
			want: "VIGIL_COLLECTOR_MAX_MESSAGE_BYTES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			cmd := newRootCmd()
			cmd.SetErr(&stderr)
			cmd.SetArgs([]string{"--config", writeConfig(t, tc.file)})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := cmd.ExecuteContext(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not name the setting", stderr.String())
			}
		})
	}
}

// TestProfileCRDsOutsideAClusterNeedAKubeconfig: --profile-crds with no
// Kubernetes to reach stops the command with what to do, before it serves.
func TestProfileCRDsOutsideAClusterNeedAKubeconfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"--profile-crds", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--tls-cert", filepath.Join(certs, pki.ServerCertFile), "--tls-key", filepath.Join(certs, pki.ServerKeyFile),
		"--client-ca", filepath.Join(certs, pki.CAFile), "--store", "sqlite:" + filepath.Join(t.TempDir(), "c.db")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "--profile-crds needs the Kubernetes API: not in a cluster") || !strings.Contains(err.Error(), "give --kubeconfig") {
		t.Fatalf("err %v, want what to do", err)
	}
}
