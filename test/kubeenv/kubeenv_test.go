package kubeenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
)

const testObjects = `apiVersion: v1
kind: Namespace
metadata:
  name: vigil
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: agent
  namespace: vigil
---
apiVersion: v1
kind: Pod
metadata:
  name: agent-node-a
  namespace: vigil
spec:
  serviceAccountName: agent
  nodeName: node-a
  containers:
  - name: agent
    image: vigil-agent:test
`

// TestAPIServer starts the environment and uses what the join, CRD and
// chart tests rely on: server-side apply, a pod bound to a node without a
// scheduler, a ServiceAccount token bound to that pod and verified by a
// TokenReview, and RBAC; then it checks that the cleanup left no server
// running.
func TestAPIServer(t *testing.T) {
	var procs []*process
	var url string
	t.Run("serve", func(t *testing.T) {
		e := Start(t)
		procs, url = e.procs, e.URL

		e.Apply(t, testObjects)
		if node := e.Kubectl(t, "get", "pod", "agent-node-a", "-n", "vigil", "-o", "jsonpath={.spec.nodeName}"); node != "node-a" {
			t.Fatalf("pod's node = %q, want node-a", node)
		}

		const audience = "vigil-collector"
		token := e.ServiceAccountToken(t, "vigil", "agent", "agent-node-a", audience, 10*time.Minute)
		review := tokenReview(t, e, token, audience)
		if !review.Status.Authenticated {
			t.Fatalf("token bound to the pod is not authenticated: %+v", review.Status)
		}
		if got, want := review.Status.User.Username, "system:serviceaccount:vigil:agent"; got != want {
			t.Errorf("token's user = %q, want %q", got, want)
		}
		if got := review.Status.User.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "agent-node-a" {
			t.Errorf("token's pod-name = %q, want [agent-node-a]; extra: %v", got, review.Status.User.Extra)
		}
		if got := review.Status.User.Extra["authentication.kubernetes.io/node-name"]; len(got) != 1 || got[0] != "node-a" {
			t.Errorf("token's node-name = %q, want [node-a]; extra: %v", got, review.Status.User.Extra)
		}
		if got := review.Status.Audiences; len(got) != 1 || got[0] != audience {
			t.Errorf("review's audiences = %q, want [%s]", got, audience)
		}
		// The audience binds: the same token is no credential for another.
		if other := tokenReview(t, e, token, "someone-else"); other.Status.Authenticated {
			t.Errorf("token for %q authenticated for another audience: %+v", audience, other.Status)
		}
		if forged := tokenReview(t, e, token[:len(token)-4]+"AAAA", audience); forged.Status.Authenticated {
			t.Errorf("token with a forged signature authenticated: %+v", forged.Status)
		}

		// RBAC decides: nothing for the ServiceAccount until a Role grants it.
		sa := "--as=system:serviceaccount:vigil:agent"
		if out, _, err := e.KubectlResult("auth", "can-i", "get", "secrets", "-n", "vigil", sa); !isNo(err) || strings.TrimSpace(out) != "no" {
			t.Fatalf("can-i get secrets as the agent before any grant: %q, %v; want no", out, err)
		}
		e.Apply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: read-pods
  namespace: vigil
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: agent-reads-pods
  namespace: vigil
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: read-pods
subjects:
- kind: ServiceAccount
  name: agent
  namespace: vigil
`)
		if out := strings.TrimSpace(e.Kubectl(t, "auth", "can-i", "get", "pods", "-n", "vigil", sa)); out != "yes" {
			t.Errorf("can-i get pods as the agent after the RoleBinding: %q, want yes", out)
		}
		if out, _, err := e.KubectlResult("auth", "can-i", "get", "secrets", "-n", "vigil", sa); !isNo(err) || strings.TrimSpace(out) != "no" {
			t.Errorf("can-i get secrets as the agent after a grant of pods only: %q, %v; want no", out, err)
		}
		// And the server enforces it on a real request, not only in can-i.
		if _, stderr, err := e.KubectlResult("get", "secrets", "-n", "vigil", sa); err == nil || !strings.Contains(stderr, "Forbidden") {
			t.Errorf("get secrets as the agent: %v, %q; want Forbidden", err, stderr)
		}
	})
	if len(procs) == 0 {
		if !t.Failed() {
			t.Skip("the API server was not started (see the subtest)")
		}
		return
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		default:
			t.Errorf("%s (pid %d) still running after the cleanup", p.name, p.cmd.Process.Pid)
		}
		if err := syscall.Kill(-p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s's process group %d still has members after the cleanup (%v)", p.name, p.cmd.Process.Pid, err)
		}
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "https://"), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the cleanup", url)
	}
}

// tokenReview asks the API server whether token authenticates for audience.
func tokenReview(t *testing.T, e *Env, token, audience string) authnv1.TokenReview {
	t.Helper()
	out := e.KubectlInput(t, fmt.Sprintf(`apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec:
  token: %q
  audiences: [%q]
`, token, audience), "create", "-f", "-", "-o", "json")
	var review authnv1.TokenReview
	if err := json.Unmarshal([]byte(out), &review); err != nil {
		t.Fatalf("decode TokenReview: %v\n%s", err, out)
	}
	return review
}

// isNo is kubectl auth can-i's answer "no": exit status 1.
func isNo(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 1
}
