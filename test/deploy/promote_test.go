package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/test/kubeenv"
)

// The people TestPromoteNeedsItsVerb acts as (kubectl --as), bound to the
// shipped ClusterRoles, and the collector's own account.
const (
	editor           = "erin"
	admin            = "adam"
	collectorAccount = "system:serviceaccount:vigil:vigil-collector"
)

// promoteRefusal is what the API server says when vigil-profile-promote
// refuses a request: the policy's name and its message.
var promoteRefusal = []string{
	"ValidatingAdmissionPolicy 'vigil-profile-promote'",
	"needs the verb promote on imageprofiles",
}

// policyActiveTimeout bounds the wait for the API server to enforce a
// policy just created (its admission plugin learns of it from a watch).
const policyActiveTimeout = time.Minute

// TestPromoteNeedsItsVerb applies the learning overlay to a real API server
// and acts as a vigil-profile-editor, a vigil-profile-admin and the
// collector. The editor may create, curate, label and delete profiles in
// learn mode; putting one in monitor or enforce mode, and widening,
// demoting or deleting an enforced one, are refused with the policy's
// message, also where only the collector's latest version (status.mode) is
// enforced. The admin and the collector may do all of it.
func TestPromoteNeedsItsVerb(t *testing.T) {
	e := kubeenv.Start(t)
	e.Kubectl(t, "apply", "--server-side", "-k", filepath.Join(repoRoot(t), learningDir))
	e.Kubectl(t, "wait", "--for", "condition=Established", "--timeout", "60s", "crd/imageprofiles.vigil.dev")
	e.Kubectl(t, "create", "clusterrolebinding", "editors", "--clusterrole", "vigil-profile-editor", "--user", editor)
	e.Kubectl(t, "create", "clusterrolebinding", "admins", "--clusterrole", "vigil-profile-admin", "--user", admin)
	k := &kube{t: t, e: e, dir: t.TempDir()}

	a, b, c := profileName('a'), profileName('b'), profileName('c')
	k.waitForPolicy(profileDoc('b', "enforce", "/bin/sh"))

	// Learn mode is the editor's.
	k.allowed(editor, "apply", "-f", k.file(profileDoc('a', "learn", "/bin/sh")))
	k.allowed(editor, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"executables":[{"path":"/bin/sh"},{"path":"/bin/ls"}]}}`)
	k.allowed(editor, "label", "imageprofile", a, "team=web")
	k.allowed(editor, "annotate", "imageprofile", a, "vigil.dev/note=reviewed")
	// Monitor and enforce are not.
	k.refused(editor, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"mode":"monitor"}}`)
	k.refused(editor, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"mode":"enforce"}}`)
	k.refused(editor, "apply", "-f", k.file(profileDoc('b', "enforce", "/bin/sh")))
	if mode := k.mode(a); mode != "learn" {
		t.Fatalf("%s is in %q after the refusals, want learn", a, mode)
	}
	// The collector creates the object of a profile the store enforces.
	k.allowed(collectorAccount, "create", "-f", k.file(profileDoc('b', "enforce", "/bin/sh")))

	// The admin promotes; the enforced profile is then out of the editor's
	// reach, but for its labels.
	k.allowed(admin, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"mode":"enforce"}}`)
	k.refused(editor, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"executables":[{"path":"/bin/sh"},{"path":"/bin/ls"},{"path":"/bin/cat"}]}}`)
	k.refused(editor, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"mode":"learn"}}`)
	k.refused(editor, "apply", "-f", k.file(profileDoc('a', "learn", "/bin/sh")))
	k.refused(editor, "delete", "imageprofile", a)
	k.allowed(editor, "label", "imageprofile", a, "tier=prod")

	// A learn-mode spec over a profile the collector's latest version
	// enforces (status.mode, as after vigilctl profiles mode) would demote
	// it.
	k.allowed(editor, "create", "-f", k.file(profileDoc('c', "learn", "/bin/sh")))
	e.Kubectl(t, "patch", "imageprofile", c, "--subresource", "status", "--type", "merge", "-p", `{"status":{"version":2,"mode":"enforce"}}`)
	k.refused(editor, "patch", "imageprofile", c, "--type", "merge", "-p", `{"spec":{"executables":[{"path":"/bin/sh"},{"path":"/bin/ls"}]}}`)
	k.refused(editor, "delete", "imageprofile", c)
	k.allowed(editor, "label", "imageprofile", c, "team=web")

	// The admin may do all of it; once demoted, learn mode is the editor's
	// again.
	k.allowed(admin, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"executables":[{"path":"/bin/sh"},{"path":"/bin/ls"},{"path":"/bin/cat"}]}}`)
	k.allowed(admin, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"mode":"learn"}}`)
	k.allowed(admin, "delete", "imageprofile", b)
	k.allowed(admin, "patch", "imageprofile", c, "--type", "merge", "-p", `{"spec":{"executables":[{"path":"/bin/sh"},{"path":"/bin/ls"}]}}`)
	k.allowed(admin, "delete", "imageprofile", c)
	k.allowed(editor, "patch", "imageprofile", a, "--type", "merge", "-p", `{"spec":{"executables":[{"path":"/bin/sh"}]}}`)
	k.allowed(editor, "delete", "imageprofile", a)
}

// kube runs kubectl against e as one user or another.
type kube struct {
	t   *testing.T
	e   *kubeenv.Env
	dir string
	n   int
}

func (k *kube) as(user string, args ...string) (string, error) {
	_, stderr, err := k.e.KubectlResult(append([]string{"--as", user}, args...)...)
	return stderr, err
}

func (k *kube) allowed(user string, args ...string) {
	k.t.Helper()
	if stderr, err := k.as(user, args...); err != nil {
		k.t.Errorf("%s: kubectl %s: %v\n%s", user, strings.Join(args, " "), err, stderr)
	}
}

func (k *kube) refused(user string, args ...string) {
	k.t.Helper()
	stderr, err := k.as(user, args...)
	if err == nil {
		k.t.Errorf("%s: kubectl %s was allowed, want it refused by vigil-profile-promote", user, strings.Join(args, " "))
		return
	}
	for _, want := range promoteRefusal {
		if !strings.Contains(stderr, want) {
			k.t.Errorf("%s: kubectl %s: refused without %q: %v\n%s", user, strings.Join(args, " "), want, err, stderr)
		}
	}
	k.t.Logf("%s: kubectl %s: %s", user, strings.Join(args, " "), strings.TrimSpace(stderr))
}

// waitForPolicy waits until the API server enforces vigil-profile-promote:
// the editor's server-side dry run of doc (a profile in enforce mode) is
// refused with its message.
func (k *kube) waitForPolicy(doc string) {
	k.t.Helper()
	f := k.file(doc)
	deadline := time.Now().Add(policyActiveTimeout)
	for {
		stderr, err := k.as(editor, "create", "--dry-run=server", "-f", f)
		if err != nil && strings.Contains(stderr, promoteRefusal[0]) {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("the editor's dry run of an enforced profile was not refused by vigil-profile-promote after %v: %v\n%s",
				policyActiveTimeout, err, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mode is the spec's mode of the ImageProfile name.
func (k *kube) mode(name string) string {
	k.t.Helper()
	return k.e.Kubectl(k.t, "get", "imageprofile", name, "-o", "jsonpath={.spec.mode}")
}

// file writes doc to a file of its own, for kubectl -f.
func (k *kube) file(doc string) string {
	k.t.Helper()
	k.n++
	f := filepath.Join(k.dir, "doc-"+strconv.Itoa(k.n)+".yaml")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		k.t.Fatal(err)
	}
	return f
}

// profileName is the ImageProfile name of the digest of 64 times hex.
func profileName(hex byte) string {
	return "sha256-" + strings.Repeat(string(hex), 64)
}

// profileDoc is an ImageProfile of that digest in mode, allowing
// executables.
func profileDoc(hex byte, mode string, executables ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata:\n  name: " + profileName(hex) +
		"\nspec:\n  digest: sha256:" + strings.Repeat(string(hex), 64) + "\n  image: shop/web:1\n  mode: " + mode + "\n  executables:\n")
	for _, x := range executables {
		b.WriteString("    - path: " + x + "\n")
	}
	return b.String()
}
