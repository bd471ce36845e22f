package profilesync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/collector"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profilecr"
	"github.com/vigil-dev/vigil/test/kubeenv"
	"github.com/vigil-dev/vigil/test/testutil"
)

// The tests here run a real kube-apiserver (test/kubeenv) with the CRD and
// RBAC files the deploy base ships, and real collectors.

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	nameA   = "sha256-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	nameB   = "sha256-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// installCRD applies the shipped CRD and waits until it serves.
func installCRD(t *testing.T, env *kubeenv.Env) {
	t.Helper()
	env.Kubectl(t, "apply", "--server-side", "-f", repoFile(t, "deploy/daemonset/base/crds/imageprofiles.vigil.dev.yaml"))
	env.Kubectl(t, "wait", "--for", "condition=Established", "--timeout", "60s", "crd/imageprofiles.vigil.dev")
}

// apply runs kubectl apply on a manifest and returns its error output.
func apply(t *testing.T, env *kubeenv.Env, manifest string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := env.KubectlResult("apply", "-f", f)
	return stderr, err
}

func manifest(name, spec string) string {
	return "apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata:\n  name: " + name + "\nspec:\n" + spec
}

func TestCRDRefusesBadProfilesAtApply(t *testing.T) {
	env := kubeenv.Start(t)
	installCRD(t, env)
	good := manifest(nameA, `  digest: `+digestA+`
  image: nginx:1.27
  mode: monitor
  executables:
    - path: /usr/sbin/nginx
    - path: /bin/busybox
      as: sh
  files:
    - {path: /etc/nginx/**, access: read, from: image}
    - {path: /var/log/nginx/*, access: write}
  network:
    - {address: 10.0.0.0/8, port: 53, protocol: udp}
    - {address: 192.168.1.7, port: 8000-8100, protocol: tcp}
    - {address: "::1", port: any, protocol: tcp}
    - {unix: /run/app.sock}
  capabilities:
    - name: CAP_NET_BIND_SERVICE
  ioUring:
    - op: SETUP
`)
	if stderr, err := apply(t, env, good); err != nil {
		t.Fatalf("a valid profile was refused: %v\n%s", err, stderr)
	}
	out := env.Kubectl(t, "get", "imageprofiles")
	for _, col := range []string{"NAME", "MODE", "VERSION", "READY", "AGE", nameA} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get imageprofiles has no %s:\n%s", col, out)
		}
	}
	if out := env.Kubectl(t, "get", "iprof", "-o", "wide"); !strings.Contains(out, "SYNCED") || !strings.Contains(out, "nginx:1.27") {
		t.Errorf("kubectl get iprof -o wide:\n%s", out)
	}
	for _, c := range []struct{ what, doc, want string }{
		{"a digest that is not sha256 hex", manifest("sha256-abc", "  digest: sha256:abc\n  mode: learn\n"), "spec.digest: Invalid value"},
		{"an unknown mode", manifest(nameB, "  digest: "+digestB+"\n  mode: enforcing\n"), `spec.mode: Unsupported value: "enforcing"`},
		{"a name not derived from the digest", manifest(nameA, "  digest: "+digestB+"\n  mode: learn\n"), "metadata.name must be spec.digest with - for :"},
		{"a relative path", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  executables: [{path: bin/sh}]\n"), "spec.executables[0].path"},
		{"a .. component", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  files: [{path: /etc/../shadow, access: read}]\n"), "spec.files[0].path"},
		{"an applet of a wildcard path", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  executables: [{path: /bin/*, as: sh}]\n"), "an entry with an applet (as) takes a path without wildcards"},
		{"an image entry that writes", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  files: [{path: /etc/**, access: write, from: image}]\n"), "an image entry allows reading only"},
		{"an image entry not a subtree", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  files: [{path: /etc/passwd, access: read, from: image}]\n"), "an image entry must be a directory's subtree"},
		{"a unix entry with a port", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  network: [{unix: /run/x.sock, port: 80}]\n"), "a unix entry takes only unix"},
		{"an inet entry without a protocol", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  network: [{address: 10.0.0.1, port: 80}]\n"), "an inet entry takes address, port and protocol"},
		{"host bits beyond the prefix", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  network: [{address: 10.0.0.1/8, port: 80, protocol: tcp}]\n"), "without bits set beyond its prefix length"},
		{"a port out of range", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  network: [{address: 10.0.0.1, port: 70000, protocol: tcp}]\n"), "want a port 0-65535"},
		{"an empty port range", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  network: [{address: 10.0.0.1, port: 90-80, protocol: tcp}]\n"), "want a port 0-65535"},
		{"an unknown capability", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  capabilities: [{name: CAP_NET_RAWR}]\n"), `Unsupported value: "CAP_NET_RAWR"`},
		{"a capability twice", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  capabilities: [{name: CAP_KILL}, {name: CAP_KILL}]\n"), "Duplicate value"},
		{"an unknown io_uring op", manifest(nameB, "  digest: "+digestB+"\n  mode: learn\n  ioUring: [{op: IORING_OP_READ}]\n"), `Unsupported value: "IORING_OP_READ"`},
		{"no mode", manifest(nameB, "  digest: "+digestB+"\n"), "spec.mode: Required value"},
	} {
		stderr, err := apply(t, env, c.doc)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: err %v, stderr %q, want it refused with %q", c.what, err, stderr, c.want)
		}
	}
	// The digest of an object is its identity: it cannot change.
	moved := strings.Replace(good, "  digest: "+digestA, "  digest: "+digestB, 1)
	if stderr, err := apply(t, env, moved); err == nil || !strings.Contains(stderr, "metadata.name must be") && !strings.Contains(stderr, "spec.digest is immutable") {
		t.Errorf("changing the digest: %v %s", err, stderr)
	}
}

func TestRBACRolesDecideWhoChangesProfiles(t *testing.T) {
	env := kubeenv.Start(t)
	installCRD(t, env)
	env.Kubectl(t, "create", "namespace", "vigil")
	env.Kubectl(t, "apply", "-n", "vigil", "-f", repoFile(t, "deploy/daemonset/base/serviceaccounts.yaml"))
	env.Kubectl(t, "apply", "-n", "vigil", "-f", repoFile(t, "deploy/daemonset/base/profiles-rbac.yaml"))
	env.Kubectl(t, "create", "clusterrolebinding", "viewers", "--clusterrole", "vigil-profile-viewer", "--user", "vera")
	env.Kubectl(t, "create", "clusterrolebinding", "editors", "--clusterrole", "vigil-profile-editor", "--user", "erin")
	env.Kubectl(t, "create", "clusterrolebinding", "admins", "--clusterrole", "vigil-profile-admin", "--user", "adam")
	sa := "system:serviceaccount:vigil:vigil-collector"
	for _, c := range []struct {
		as, verb, resource string
		ns                 string
		want               string
	}{
		{"vera", "get", "imageprofiles", "", "yes"},
		{"vera", "list", "imageprofiles", "", "yes"},
		{"vera", "patch", "imageprofiles", "", "no"},
		{"vera", "update", "imageprofiles", "", "no"},
		{"vera", "promote", "imageprofiles", "", "no"},
		// promote is what the policy in profiles-promote.yaml asks of a
		// change to a profile in monitor or enforce mode.
		{"erin", "patch", "imageprofiles", "", "yes"},
		{"erin", "delete", "imageprofiles", "", "yes"},
		{"erin", "update", "imageprofiles/status", "", "no"},
		{"erin", "promote", "imageprofiles", "", "no"},
		{"adam", "patch", "imageprofiles", "", "yes"},
		{"adam", "create", "imageprofiles", "", "yes"},
		{"adam", "promote", "imageprofiles", "", "yes"},
		{"nobody", "get", "imageprofiles", "", "no"},
		{sa, "watch", "imageprofiles", "", "yes"},
		{sa, "update", "imageprofiles/status", "", "yes"},
		{sa, "promote", "imageprofiles", "", "yes"},
		{sa, "delete", "imageprofiles", "", "no"},
		{sa, "patch", "imageprofiles", "", "no"},
		{sa, "update", "leases/vigil-collector-profiles", "vigil", "yes"},
		{sa, "update", "leases/other", "vigil", "no"},
		{sa, "create", "leases", "kube-system", "no"},
	} {
		// kubectl reads RESOURCE/NAME: a subresource is a flag of its own.
		resource, sub, _ := strings.Cut(c.resource, "/")
		if sub != "status" {
			resource, sub = c.resource, ""
		}
		args := []string{"auth", "can-i", c.verb, resource, "--subresource", sub, "--as", c.as}
		if c.ns != "" {
			args = append(args, "-n", c.ns)
		}
		out, _, _ := env.KubectlResult(args...) // exit status 1 is "no"
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("can %s %s %s: %q, want %q", c.as, c.verb, c.resource, got, c.want)
		}
	}
}

// cluster is the API server with the CRD, the collector's service account,
// RBAC and the promote policy, and a kubeconfig holding that account's
// token: the collectors below have exactly the rights the deploy base gives
// them.
type cluster struct {
	env        *kubeenv.Env
	kubeconfig string
}

func startCluster(t *testing.T) *cluster {
	env := kubeenv.Start(t)
	installCRD(t, env)
	env.Kubectl(t, "create", "namespace", "vigil")
	env.Kubectl(t, "apply", "-n", "vigil", "-f", repoFile(t, "deploy/daemonset/base/serviceaccounts.yaml"))
	env.Kubectl(t, "apply", "-n", "vigil", "-f", repoFile(t, "deploy/daemonset/base/profiles-rbac.yaml"))
	env.Kubectl(t, "apply", "-f", repoFile(t, "deploy/daemonset/base/profiles-promote.yaml"))
	token := strings.TrimSpace(env.Kubectl(t, "create", "token", "vigil-collector", "-n", "vigil", "--duration", "1h"))
	kc := filepath.Join(t.TempDir(), "collector.kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: collector, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: collector}}]
current-context: test
`, env.URL, env.CAFile, token)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cluster{env: env, kubeconfig: kc}
}

// replica is one collector process's worth: collector.Run with
// --profile-crds.
type replica struct {
	addr, http string
	stop       func()
}

func startReplica(t *testing.T, c *cluster, certs, store string) *replica {
	t.Helper()
	r := &replica{addr: testutil.FreeAddr(t), http: testutil.FreeAddr(t)}
	cfg := collector.DefaultConfig()
	cfg.Listen, cfg.HTTPListen, cfg.Store = r.addr, r.http, store
	cfg.TLSCert, cfg.TLSKey, cfg.ClientCA = filepath.Join(certs, pki.ServerCertFile), filepath.Join(certs, pki.ServerKeyFile), filepath.Join(certs, pki.CAFile)
	cfg.DraftMinNodes, cfg.ShutdownGrace = 1, 2*time.Second
	cfg.ProfileCRDs, cfg.Kubeconfig, cfg.ProfileCRDsNamespace, cfg.ProfileCRDsResync = true, c.kubeconfig, "vigil", time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- collector.Run(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))) }()
	var once bool
	r.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	}
	t.Cleanup(r.stop)
	waitFor(t, 20*time.Second, "the collector serving", func() (bool, string) {
		resp, err := http.Get("http://" + r.http + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return r
}

// leads reads the replica's vigil_collector_profile_crd_leader gauge.
func (r *replica) leads(t *testing.T) bool {
	return r.metric(t, "vigil_collector_profile_crd_leader") == "1"
}

// metric is the value of an unlabelled metric the replica serves.
func (r *replica) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + r.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func waitFor(t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; last: %s", what, d, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// object is an ImageProfile as kubectl reads it.
type object struct {
	Metadata struct {
		Generation  int64             `json:"generation"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec   map[string]any   `json:"spec"`
	Status profilecr.Status `json:"status"`
}

func getObject(t *testing.T, env *kubeenv.Env, name string) (object, bool) {
	t.Helper()
	out, _, err := env.KubectlResult("get", "imageprofile", name, "-o", "json")
	if err != nil {
		return object{}, false
	}
	var o object
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("decode %s: %v\n%s", name, err, out)
	}
	return o, true
}

func (o object) synced() (string, string) {
	for _, c := range o.Status.Conditions {
		if c.Type == profilecr.CondSynced {
			return string(c.Status) + "/" + c.Reason, c.Message
		}
	}
	return "", ""
}

func agentClient(t *testing.T, certs, addr, node string) vigilv1.AgentServiceClient {
	t.Helper()
	cert, key := pki.ClientFiles(node)
	tlsConfig, err := pki.ClientTLSFiles(filepath.Join(certs, cert), filepath.Join(certs, key), filepath.Join(certs, pki.CAFile), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return vigilv1.NewAgentServiceClient(conn)
}

// submit has node's agent report it runs digest and send its draft, as a
// learning agent does.
func submit(t *testing.T, agent vigilv1.AgentServiceClient, node, digest string, paths ...string) {
	t.Helper()
	d, err := profile.NewDraft("nginx:1.27", digest, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := d.Observe(profile.Observation{Kind: profile.KindExec, Path: p, ContainerID: "c-" + node, Node: node, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := profile.Encode(d.Profile())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := agent.ReportStatus(ctx, &vigilv1.NodeStatus{Images: []string{digest}}); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: doc}); err != nil {
		t.Fatal(err)
	}
}

func latest(t *testing.T, ops vigilv1.ConsumerServiceClient, digest string) *vigilv1.Profile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := ops.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest}})
	if err != nil {
		return nil
	}
	return resp.GetProfile()
}

func TestProfilesSyncBothWaysOnOneReplicaAtATime(t *testing.T) {
	c := startCluster(t)
	env := c.env
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"localhost", "127.0.0.1"}, Nodes: []string{"node-a"}, Consumers: []string{"admin"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	store := testutil.StartPostgres(t)
	a := startReplica(t, c, certs, store)
	waitFor(t, 30*time.Second, "replica A leading", func() (bool, string) { return a.leads(t), "not leading" })
	b := startReplica(t, c, certs, store)
	ops := testutil.ConsumerClient(t, certs, a.addr)
	agent := agentClient(t, certs, a.addr, "node-a")

	// Learning: the store's profile gets an object, with status only.
	submit(t, agent, "node-a", digestA, "/usr/sbin/nginx")
	waitFor(t, 20*time.Second, "an object for the learned profile", func() (bool, string) {
		o, ok := getObject(t, env, nameA)
		return ok && o.Status.Version == 1 && o.Status.Mode == "learn", fmt.Sprintf("%+v", o.Status)
	})
	mirror, _ := getObject(t, env, nameA)
	if mirror.Metadata.Labels[profilecr.LabelManagedBy] != profilecr.ManagedByCollector || mirror.Status.Ready || len(mirror.Status.NotReady) == 0 ||
		mirror.Status.Evidence.Containers != 1 || mirror.Status.Evidence.Nodes != 1 || mirror.Status.Author != "node:node-a" {
		t.Errorf("mirror object: %+v", mirror)
	}
	if _, has := mirror.Spec[profile.ListExecutables]; has || mirror.Spec["mode"] != "learn" || mirror.Spec["digest"] != digestA {
		t.Errorf("mirror spec %v: want digest and mode only", mirror.Spec)
	}
	out := env.Kubectl(t, "get", "imageprofiles")
	if !strings.Contains(out, nameA) || !strings.Contains(out, "learn") || !strings.Contains(out, "false") {
		t.Errorf("kubectl get imageprofiles:\n%s", out)
	}
	// More learning: status follows, spec stays as it was.
	submit(t, agent, "node-a", digestA, "/usr/sbin/nginx", "/usr/bin/curl")
	waitFor(t, 20*time.Second, "status at version 2", func() (bool, string) {
		o, _ := getObject(t, env, nameA)
		return o.Status.Version == 2, fmt.Sprintf("%+v", o.Status)
	})
	after, _ := getObject(t, env, nameA)
	if after.Metadata.Generation != mirror.Metadata.Generation || fmt.Sprint(after.Spec) != fmt.Sprint(mirror.Spec) {
		t.Errorf("learning changed the spec: generation %d -> %d, %v -> %v", mirror.Metadata.Generation, after.Metadata.Generation, mirror.Spec, after.Spec)
	}

	// kubectl patch of the mode promotes the latest version, through the
	// collector's checks: enforce is refused while not ready ...
	env.Kubectl(t, "patch", "imageprofile", nameA, "--type", "merge", "-p", `{"spec":{"mode":"enforce"}}`)
	waitFor(t, 20*time.Second, "enforce refused", func() (bool, string) {
		o, _ := getObject(t, env, nameA)
		s, msg := o.synced()
		return s == "False/"+profilecr.ReasonRefused && strings.Contains(msg, "is not ready to enforce"), s + " " + msg
	})
	if p := latest(t, ops, digestA); p.GetVersion() != 2 || p.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_LEARN {
		t.Errorf("a refused spec changed the store: %v", p)
	}
	// ... and made with the force annotation, as vigilctl's --force.
	env.Kubectl(t, "annotate", "imageprofile", nameA, profilecr.AnnotationForce+"=true")
	env.Kubectl(t, "patch", "imageprofile", nameA, "--type", "merge", "-p", `{"spec":{"expectVersion":2}}`)
	waitFor(t, 20*time.Second, "enforce applied", func() (bool, string) {
		p := latest(t, ops, digestA)
		return p.GetVersion() == 3 && p.GetMode() == vigilv1.ProfileMode_PROFILE_MODE_ENFORCE, fmt.Sprint(p)
	})
	if p := latest(t, ops, digestA); p.GetAuthor() != "kubernetes" {
		t.Errorf("version 3 made by %q, want kubernetes", p.GetAuthor())
	}
	waitFor(t, 20*time.Second, "status at version 3, enforce", func() (bool, string) {
		o, _ := getObject(t, env, nameA)
		s, msg := o.synced()
		return o.Status.Version == 3 && o.Status.Mode == "enforce" && s == "True/"+profilecr.ReasonApplied, fmt.Sprintf("%+v", o.Status) + msg
	})

	// GitOps: a profile written as a resource, its allowlists and mode,
	// becomes the store's version.
	gitops := manifest(nameB, `  digest: `+digestB+`
  image: shop/api:2
  mode: monitor
  executables:
    - path: /app/api
  files:
    - {path: /app/**, access: read, from: image}
`)
	if stderr, err := apply(t, env, gitops); err != nil {
		t.Fatalf("apply: %v\n%s", err, stderr)
	}
	waitFor(t, 20*time.Second, "the applied profile in the store", func() (bool, string) {
		p := latest(t, ops, digestB)
		return p.GetVersion() == 1 && p.GetMode() == vigilv1.ProfileMode_PROFILE_MODE_MONITOR, fmt.Sprint(p)
	})
	doc, err := profile.Decode("stored", latest(t, ops, digestB).GetYaml())
	if err != nil || len(doc.Spec.Executables) != 1 || doc.Spec.Executables[0].Path != "/app/api" || len(doc.Spec.Files) != 1 || !doc.Spec.Files[0].Image {
		t.Fatalf("stored document %+v %v", doc, err)
	}
	// A stale expectVersion is refused with the collector's reason.
	stale := strings.Replace(gitops, "  mode: monitor\n", "  mode: enforce\n  expectVersion: 7\n", 1)
	if stderr, err := apply(t, env, stale); err != nil {
		t.Fatalf("apply: %v\n%s", err, stderr)
	}
	waitFor(t, 20*time.Second, "a stale expectVersion refused", func() (bool, string) {
		o, _ := getObject(t, env, nameB)
		s, msg := o.synced()
		return s == "False/"+profilecr.ReasonRefused && strings.Contains(msg, "the latest version of "+digestB+" is 1, not 7"), s + " " + msg
	})

	// The second replica does not sync while the first holds the Lease,
	// and takes over when it stops.
	if b.leads(t) {
		t.Fatal("both replicas lead")
	}
	if n := b.metric(t, "vigil_collector_profile_crd_status_updates_total"); n != "0" {
		t.Fatalf("replica B wrote %s statuses while A led", n)
	}
	a.stop()
	start := time.Now()
	waitFor(t, 30*time.Second, "replica B leading", func() (bool, string) { return b.leads(t), "not leading" })
	t.Logf("replica B took the Lease %v after A stopped", time.Since(start).Round(time.Millisecond))
	opsB := testutil.ConsumerClient(t, certs, b.addr)
	env.Kubectl(t, "patch", "imageprofile", nameB, "--type", "merge", "-p", `{"spec":{"expectVersion":1}}`)
	waitFor(t, 20*time.Second, "B applied the spec", func() (bool, string) {
		p := latest(t, opsB, digestB)
		return p.GetVersion() == 2 && p.GetMode() == vigilv1.ProfileMode_PROFILE_MODE_ENFORCE, fmt.Sprint(p)
	})
	waitFor(t, 20*time.Second, "B wrote the status", func() (bool, string) {
		o, _ := getObject(t, env, nameB)
		return o.Status.Version == 2 && o.Status.Mode == "enforce", fmt.Sprintf("%+v", o.Status)
	})
}

// An editor (no verb promote) who writes a learn-mode object while its status
// does not show that the store enforces the profile passes the admission
// policy, which judges by the spec and the old status: here a create, the
// object deleted while no replica led. The collector refuses to demote the
// profile and shows its mode; a new spec then needs promote.
func TestEditorCannotDemoteAProfileItsObjectDidNotShow(t *testing.T) {
	c := startCluster(t)
	env := c.env
	env.Kubectl(t, "create", "clusterrolebinding", "editors", "--clusterrole", "vigil-profile-editor", "--user", "erin")
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"localhost", "127.0.0.1"}, Consumers: []string{"admin"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	store := testutil.StartPostgres(t)
	a := startReplica(t, c, certs, store)
	waitFor(t, 30*time.Second, "replica A leading", func() (bool, string) { return a.leads(t), "not leading" })
	ops := testutil.ConsumerClient(t, certs, a.addr)
	enforced := manifest(nameA, "  digest: "+digestA+"\n  mode: enforce\n  executables:\n    - path: /usr/sbin/nginx\n")
	if stderr, err := apply(t, env, enforced); err != nil {
		t.Fatalf("apply: %v\n%s", err, stderr)
	}
	waitFor(t, 20*time.Second, "the store enforcing version 1", func() (bool, string) {
		p := latest(t, ops, digestA)
		return p.GetVersion() == 1 && p.GetMode() == vigilv1.ProfileMode_PROFILE_MODE_ENFORCE, fmt.Sprint(p)
	})

	// No replica leads: nothing mirrors the profile after the delete.
	a.stop()
	env.Kubectl(t, "delete", "imageprofile", nameA)
	f := filepath.Join(t.TempDir(), "learn.yaml")
	if err := os.WriteFile(f, []byte(manifest(nameA, "  digest: "+digestA+"\n  mode: learn\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := env.KubectlResult("apply", "--as", "erin", "-f", f); err != nil {
		t.Fatalf("the policy refused the editor's create (this test needs it to pass): %v\n%s", err, stderr)
	}
	b := startReplica(t, c, certs, store)
	waitFor(t, 30*time.Second, "replica B leading", func() (bool, string) { return b.leads(t), "not leading" })
	opsB := testutil.ConsumerClient(t, certs, b.addr)
	waitFor(t, 20*time.Second, "the demotion refused, the status showing enforce", func() (bool, string) {
		o, _ := getObject(t, env, nameA)
		s, msg := o.synced()
		return s == "False/"+profilecr.ReasonNeedsPromote && strings.Contains(msg, "needs promote") && o.Status.Mode == "enforce" && o.Status.Version == 1,
			fmt.Sprintf("%s %s %+v", s, msg, o.Status)
	})
	if p := latest(t, opsB, digestA); p.GetVersion() != 1 || p.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_ENFORCE {
		t.Fatalf("the editor's spec changed the store: %v", p)
	}
	// A reconcile from a cache behind the status write applies the
	// generation again: counted at least once.
	if n := b.metric(t, `vigil_collector_profile_crd_specs_total{result="needs_promote"}`); n == "" || n == "0" {
		t.Errorf("needs_promote refusals counted: %q, want at least 1", n)
	}

	// Now the policy sees the mode: the editor may not write the spec again,
	// an admin may, and the store follows.
	patch := `{"spec":{"expectVersion":1}}`
	if _, stderr, err := env.KubectlResult("patch", "imageprofile", nameA, "--as", "erin", "--type", "merge", "-p", patch); err == nil || !strings.Contains(stderr, "needs the verb promote") {
		t.Fatalf("the editor's second write: err %v, stderr %q; want it denied by the policy", err, stderr)
	}
	env.Kubectl(t, "patch", "imageprofile", nameA, "--type", "merge", "-p", patch)
	waitFor(t, 20*time.Second, "the admin's demotion applied", func() (bool, string) {
		p := latest(t, opsB, digestA)
		return p.GetVersion() == 2 && p.GetMode() == vigilv1.ProfileMode_PROFILE_MODE_LEARN, fmt.Sprint(p)
	})
	waitFor(t, 20*time.Second, "status at version 2, learn", func() (bool, string) {
		o, _ := getObject(t, env, nameA)
		s, msg := o.synced()
		return o.Status.Version == 2 && o.Status.Mode == "learn" && s == "True/"+profilecr.ReasonApplied, fmt.Sprintf("%s %s %+v", s, msg, o.Status)
	})
}
