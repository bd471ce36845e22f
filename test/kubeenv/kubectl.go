package kubeenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kubectlTimeout bounds one kubectl command.
const kubectlTimeout = 2 * time.Minute

// Kubectl runs kubectl --kubeconfig e.Kubeconfig ARGS and returns its
// standard output, failing the test with its standard error if it fails.
func (e *Env) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	return e.KubectlInput(t, "", args...)
}

// KubectlInput is Kubectl with stdin as kubectl's standard input (for
// `-f -`).
func (e *Env) KubectlInput(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	stdout, stderr, err := e.run(stdin, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	return stdout
}

// KubectlResult runs kubectl --kubeconfig e.Kubeconfig ARGS and returns
// what it wrote and how it ended, for a test that expects it to fail.
func (e *Env) KubectlResult(args ...string) (stdout, stderr string, err error) {
	return e.run("", args...)
}

// Apply applies the objects of a YAML stream with server-side apply,
// failing the test if the server refuses any.
func (e *Env) Apply(t testing.TB, yaml string) {
	t.Helper()
	e.KubectlInput(t, yaml, "apply", "--server-side", "-f", "-")
}

// ServiceAccountToken asks the TokenRequest API for a token of
// namespace/serviceAccount, bound to the pod namespace/pod (which must
// exist), with this audience and lifetime. The API server refuses a
// lifetime under 10 minutes.
func (e *Env) ServiceAccountToken(t testing.TB, namespace, serviceAccount, pod, audience string, ttl time.Duration) string {
	t.Helper()
	token := strings.TrimSpace(e.Kubectl(t, "create", "token", serviceAccount, "-n", namespace,
		"--audience", audience, "--duration", ttl.String(),
		"--bound-object-kind", "Pod", "--bound-object-name", pod))
	if token == "" {
		t.Fatalf("kubectl create token %s -n %s printed no token", serviceAccount, namespace)
	}
	return token
}

func (e *Env) run(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	// A cache of the server's API discovery of its own: the default one is
	// shared by every server that had this address, CRDs and all.
	full := append([]string{"--kubeconfig", e.Kubeconfig, "--cache-dir", e.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, e.kubectl, full...)
	var out, errOut bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), nil
}

// ServiceAccountKubeconfig is a kubeconfig for the server that acts as
// namespace/serviceAccount, with a token of it valid for ttl: a client
// (a collector) given it has exactly that account's RBAC.
func (e *Env) ServiceAccountKubeconfig(t testing.TB, namespace, serviceAccount string, ttl time.Duration) []byte {
	t.Helper()
	token := strings.TrimSpace(e.Kubectl(t, "create", "token", serviceAccount, "-n", namespace, "--duration", ttl.String()))
	ca, err := os.ReadFile(e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
  - name: kubeenv
    cluster: {server: %q, certificate-authority-data: %q}
users:
  - name: %s
    user: {token: %q}
contexts:
  - name: kubeenv
    context: {cluster: kubeenv, user: %s}
current-context: kubeenv
`, e.URL, base64.StdEncoding.EncodeToString(ca), serviceAccount, token, serviceAccount)
}
