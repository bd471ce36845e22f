package kubeenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/test/testenv"
	"github.com/vigil-dev/vigil/test/testutil"
)

// Version is the Kubernetes release test/kube/build.sh builds.
const Version = "v1.37.2"

// DirEnv names a directory holding kube-apiserver and kubectl, instead of
// the build's cache directory.
const DirEnv = "VIGIL_KUBE_DIR"

// defaultDir is where test/kube/build.sh puts the binaries.
const defaultDir = "/var/cache/vigil-kube/" + Version

// Issuer is the iss claim of the ServiceAccount tokens the server issues,
// and the audience it accepts for itself.
const Issuer = "https://kubernetes.default.svc"

// The bounds of a start and a stop on a busy two-core machine: the API
// server is ready 3-4 s after it is started when the machine is idle.
const (
	readyTimeout = 2 * time.Minute
	stopTimeout  = 15 * time.Second
)

// Env is a running API server and what a client needs to reach it.
type Env struct {
	URL        string // https://127.0.0.1:PORT
	Kubeconfig string // path of an admin kubeconfig (client cert in group system:masters)
	CAFile     string // CA of the API server's serving certificate

	kubectl  string
	cacheDir string
	procs    []*process // etcd, then the API server
}

// Start runs etcd (Debian's etcd-server, /usr/bin/etcd) and kube-apiserver
// on loopback ports of their own, in t.TempDir(), with RBAC authorization,
// client-certificate authentication and ServiceAccount token issuing
// (TokenRequest and TokenReview work), and stops both in t.Cleanup. It
// skips unless VIGIL_ROOT_TESTS is set, and fails, naming what installs it,
// when a binary is missing.
func Start(t testing.TB) *Env {
	t.Helper()
	if os.Getenv(testenv.RootTestsEnv) == "" {
		t.Skipf("needs a real API server: set %s=1 after test/deps.sh kube and test/kube/build.sh (make test does)", testenv.RootTestsEnv)
	}
	apiserver, kubectl := binaries(t)
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd is not installed (test/deps.sh kube installs Debian's etcd-server; make test runs it): %v", err)
	}

	dir := t.TempDir()
	e := &Env{kubectl: kubectl, cacheDir: filepath.Join(dir, "kubectl-cache")}
	// Registered before the processes' stops, so it runs after them, when
	// their logs are complete.
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range e.procs {
				t.Logf("%s log (last lines of %s):\n%s", p.name, p.log, p.tail(40))
			}
		}
	})

	f, err := writePKI(dir)
	if err != nil {
		t.Fatalf("kubeenv credentials: %v", err)
	}

	etcdURL := "http://" + testutil.FreeAddr(t)
	peerURL := "http://" + testutil.FreeAddr(t)
	etcdProc := e.launch(t, dir, "etcd", etcd,
		"--name", "kubeenv",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "kubeenv="+peerURL,
		"--logger", "zap", "--log-outputs", "stderr")
	etcdProc.waitReady(t, http.DefaultClient, etcdURL+"/health")

	port := testutil.FreePort(t)
	e.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	e.CAFile = f.ca
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(e.Kubeconfig, e.URL, f); err != nil {
		t.Fatal(err)
	}
	client, err := adminClient(f)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	apiProc := e.launch(t, dir, "kube-apiserver", apiserver,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--cert-dir", filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file", f.serverCert, "--tls-private-key-file", f.serverKey,
		"--client-ca-file", f.ca,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", Issuer,
		"--api-audiences", Issuer,
		"--service-account-key-file", f.saPub,
		"--service-account-signing-key-file", f.saKey,
		// A token lives exactly as long as it was asked for, so tests of
		// expiry see it expire.
		"--service-account-extend-token-expiration=false",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No one else serves the kubernetes Service: without this the
		// server waits for its endpoints to be reconciled.
		"--endpoint-reconciler-type", "none",
		"--profiling=false")
	apiProc.waitReady(t, client, e.URL+"/readyz")
	t.Logf("kube-apiserver %s ready at %s in %v", Version, e.URL, time.Since(began).Round(time.Millisecond))
	return e
}

// binaries finds kube-apiserver and kubectl, failing with how to build them.
func binaries(t testing.TB) (apiserver, kubectl string) {
	t.Helper()
	dir := os.Getenv(DirEnv)
	if dir == "" {
		dir = defaultDir
	}
	apiserver, kubectl = filepath.Join(dir, "kube-apiserver"), filepath.Join(dir, "kubectl")
	for _, bin := range []string{apiserver, kubectl} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s: kube-apiserver and kubectl %s are not built (test/kube/build.sh builds them, make test runs it; or set %s): %v",
				filepath.Base(bin), Version, DirEnv, err)
		}
	}
	return apiserver, kubectl
}

// adminClient reaches the API server as its admin, to ask it whether it is
// ready: /readyz answers 401 to a client the server cannot authenticate.
func adminClient(f files) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(f.adminCert, f.adminKey)
	if err != nil {
		return nil, fmt.Errorf("load admin certificate: %w", err)
	}
	roots, err := pki.LoadPool(f.ca)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}},
	}, nil
}

// launch starts one server, its output in a log file in dir, and stops it
// in t.Cleanup.
func (e *Env) launch(t testing.TB, dir, name, path string, args ...string) *process {
	t.Helper()
	p, err := startProcess(dir, name, path, args...)
	if err != nil {
		t.Fatal(err)
	}
	e.procs = append(e.procs, p)
	t.Cleanup(func() {
		if err := p.stop(stopTimeout, t.Logf); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return p
}

// waitReady polls url until it answers 200, failing the test if the
// process exits first or readyTimeout passes.
func (p *process) waitReady(t testing.TB, client *http.Client, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var last error
	for {
		last = get(ctx, client, url)
		if last == nil {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready (%v); last lines of %s:\n%s", p.name, p.err, p.log, p.tail(40))
		case <-ctx.Done():
			t.Fatalf("%s was not ready within %v (%s: %v); last lines of %s:\n%s", p.name, readyTimeout, url, last, p.log, p.tail(40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}
