package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/collector"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/store"
	"github.com/vigil-dev/vigil/test/testutil"
)

// testCollector is a real collector on loopback with certificates made by
// `vigilctl certs`.
type testCollector struct {
	addr, certs string
	dbPath      string
	agent       vigilv1.AgentServiceClient
	store       store.Store
	tls         *tls.Config
	server      *collector.Collector
}

func startCollector(t *testing.T) *testCollector {
	t.Helper()
	certs := filepath.Join(t.TempDir(), "certs")
	if _, err := run(t, nil, "certs", "--dir", certs, "--node", "node-a", "--consumer", "admin", "--server-name", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	serverTLS, err := pki.ServerTLSFiles(filepath.Join(certs, pki.ServerCertFile), filepath.Join(certs, pki.ServerKeyFile), filepath.Join(certs, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "c.db")
	st, err := store.OpenSQLite(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCollector{addr: "127.0.0.1:0", certs: certs, dbPath: dbPath, store: st, tls: serverTLS}
	c.serve(t)
	t.Cleanup(func() {
		c.stop()
		st.Close()
	})
	agentTLS, err := pki.ClientTLSFiles(filepath.Join(certs, "node-a.pem"), filepath.Join(certs, "node-a-key.pem"), filepath.Join(certs, pki.CAFile), "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(agentTLS)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.agent = vigilv1.NewAgentServiceClient(conn)
	return c
}

// serve starts a collector on c.addr with c's store.
func (c *testCollector) serve(t *testing.T) {
	t.Helper()
	// Its drafts come from one node, node-a, trusted alone.
	server, err := collector.New(collector.Options{TLS: c.tls, Store: c.store, Registerer: prometheus.NewRegistry(), DraftMinNodes: 1,
		Inherit: profile.InheritMonitor})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.addr, c.server = l.Addr().String(), server
	go server.Serve(l)
}

func (c *testCollector) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.server.Stop(ctx)
}

// restart stops the collector and starts a new one on the same address
// and store, as a restarted vigil-collector.
func (c *testCollector) restart(t *testing.T) {
	t.Helper()
	c.stop()
	c.serve(t)
}

// flags points vigilctl at the test collector.
func (c *testCollector) flags(args ...string) []string {
	return append(args, "--server", c.addr,
		"--ca", filepath.Join(c.certs, pki.CAFile),
		"--cert", filepath.Join(c.certs, "admin.pem"),
		"--key", filepath.Join(c.certs, "admin-key.pem"))
}

func (c *testCollector) send(t *testing.T, alerts ...*vigilv1.Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.agent.StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&vigilv1.AlertBatch{Seq: 1, Alerts: alerts}); err != nil {
		t.Fatal(err)
	}
	if ack, err := stream.Recv(); err != nil || len(ack.GetIds()) != len(alerts) {
		t.Fatalf("ack %v, %v", ack, err)
	}
	stream.CloseSend()
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run executes vigilctl with args; ctx nil means a 30s limit.
func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
	}
	// No config file from the developer's home.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var out syncBuffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func alert(id, ns string, at time.Time) *vigilv1.Alert {
	return &vigilv1.Alert{
		Id: id, Time: timestamppb.New(at),
		Container: &vigilv1.Container{Id: "0123456789abcdef", Image: "nginx:1.27", ImageDigest: "sha256:aaa", Pod: "web-0", Namespace: ns},
		Process:   &vigilv1.Process{Pid: 42, Path: "/bin/sh"},
		Kind:      vigilv1.Kind_KIND_EXEC, Object: &vigilv1.Object{Path: "/usr/bin/nc"},
		Action: vigilv1.Action_ACTION_BLOCKED, Rule: "exec-not-in-profile", Count: 1,
	}
}

func TestAlertsList(t *testing.T) {
	c := startCollector(t)
	now := time.Now()
	c.send(t, alert("old", "shop", now.Add(-3*time.Hour)), alert("a1", "shop", now.Add(-time.Minute)), alert("a2", "kube-system", now))

	out, err := run(t, nil, c.flags("alerts", "list", "--since", "1h")...)
	if err != nil {
		t.Fatal(err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "node-a BLOCKED exec /usr/bin/nc by /bin/sh (pid 42) in shop/web-0 image nginx:1.27 rule=exec-not-in-profile") ||
		!strings.Contains(lines[1], "kube-system") {
		t.Fatalf("list --since 1h, oldest first:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatal("colour written to a non-terminal")
	}

	out, err = run(t, nil, c.flags("alerts", "list", "--since", "24h", "--namespace", "shop", "-o", "json")...)
	if err != nil {
		t.Fatal(err, out)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		ids = append(ids, a["id"].(string))
	}
	if fmt.Sprint(ids) != "[old a1]" {
		t.Fatalf("json ids %v", ids)
	}
	if _, err := run(t, nil, c.flags("alerts", "list", "--since", "yesterday")...); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("bad --since: %v", err)
	}
	if out, err := run(t, nil, c.flags("alerts", "list", "--color", "always")...); err != nil || !strings.Contains(out, colorRed) {
		t.Fatalf("--color always: %v %q", err, out)
	}
}

func TestAlertsTailIsLive(t *testing.T) {
	c := startCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out syncBuffer
	cmd := newRootCmd()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cmd.SetArgs(c.flags("alerts", "tail"))
	cmd.SetOut(&out)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	deadline := time.After(20 * time.Second)
	// Send until the tail, subscribed at some point, prints one.
	for i := 0; !strings.Contains(out.String(), "BLOCKED exec /usr/bin/nc"); i++ {
		c.send(t, alert(fmt.Sprintf("live-%d", i), "shop", time.Now()))
		select {
		case <-deadline:
			t.Fatalf("tail printed nothing: %q", out.String())
		case err := <-done:
			t.Fatalf("tail ended: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail after cancel: %v", err)
	}
}

func TestNodes(t *testing.T) {
	c := startCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	policy, sum := approval.Policy{Images: []string{"docker.io/library/nginx"}, Action: approval.ActionAlert}.Canonical()
	_, err := c.agent.ReportStatus(ctx, &vigilv1.NodeStatus{AgentVersion: "v0.1.0", Kernel: "6.18.0",
		ApprovalPolicy: &vigilv1.ApprovalPolicy{Canonical: policy, Sha256: sum},
		Enforcement: []*vigilv1.HookEnforcement{{Hook: vigilv1.Kind_KIND_EXEC, Tier: vigilv1.Tier_TIER_ALERT_ONLY},
			{Hook: vigilv1.Kind_KIND_CONNECT, Tier: vigilv1.Tier_TIER_CGROUP, Name: "connect"},
			{Hook: vigilv1.Kind_KIND_CONNECT, Tier: vigilv1.Tier_TIER_SIGNAL, Name: "connect_unix"}},
		SensorHooks: []*vigilv1.SensorHook{{Kind: vigilv1.Kind_KIND_OPEN, Attach: "fexit/do_sys_openat2"},
			{Kind: vigilv1.Kind_KIND_CONNECT, Attach: "tp_btf/sys_exit", Reason: "self-check: fexit/__sys_connect did not see connect: inlined?"}},
		Counters: map[string]uint64{"ringbuf_lost": 3, "events_exec": 100}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, c.flags("nodes")...)
	if err != nil {
		t.Fatal(err)
	}
	// Two hooks of one kind keep their own columns; an unnamed hook (an
	// older agent's) is placed by its kind. SEEN AT: where opens and
	// connects are seen.
	if !regexp.MustCompile(`node-a .* alert-only +- +cgroup +signal +- +- +open=fexit,connect=sys_exit +ringbuf_lost=3 +alert `+sum[:8]).MatchString(out) ||
		!strings.Contains(out, "SEEN AT") || strings.Contains(out, "events_exec") {
		t.Fatalf("nodes:\n%s", out)
	}
	// Counters are numbers; the rest as protojson writes it.
	out, err = run(t, nil, c.flags("nodes", "-o", "json")...)
	var node struct {
		Node        string
		Kernel      string
		Enforcement []struct{ Hook, Tier string }
		SensorHooks []struct{ Kind, Attach, Reason string } `json:"sensor_hooks"`
		Counters    map[string]any
		Received    time.Time
		Approval    struct{ Canonical, Sha256 string } `json:"approval_policy"`
	}
	if err != nil || json.Unmarshal([]byte(out), &node) != nil || node.Node != "node-a" || node.Kernel != "6.18.0" ||
		len(node.Enforcement) != 3 || node.Enforcement[0].Hook != "KIND_EXEC" || node.Enforcement[0].Tier != "TIER_ALERT_ONLY" ||
		len(node.SensorHooks) != 2 || node.SensorHooks[1].Kind != "KIND_CONNECT" || node.SensorHooks[1].Attach != "tp_btf/sys_exit" ||
		!strings.Contains(node.SensorHooks[1].Reason, "did not see connect") ||
		node.Counters["ringbuf_lost"] != float64(3) || node.Counters["events_exec"] != float64(100) || time.Since(node.Received) > time.Minute ||
		node.Approval.Canonical != policy || node.Approval.Sha256 != sum {
		t.Fatalf("nodes -o json: %v %+v\n%s", err, node, out)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	c := startCollector(t)
	// A certificate with the agent role may not use the consumer API.
	_, err := run(t, nil, "nodes", "--server", c.addr, "--ca", filepath.Join(c.certs, pki.CAFile),
		"--cert", filepath.Join(c.certs, "node-a.pem"), "--key", filepath.Join(c.certs, "node-a-key.pem"))
	if err == nil || !strings.Contains(err.Error(), "consumer role") {
		t.Fatalf("agent certificate: %v", err)
	}
	_, err = run(t, nil, "nodes", "--cert", filepath.Join(t.TempDir(), "missing.pem"))
	if err == nil || !strings.Contains(err.Error(), "vigilctl certs") {
		t.Fatalf("missing certificate: %v", err)
	}
	args := c.flags("nodes")
	args[2] = testutil.FreeAddr(t) // the value of --server
	_, err = run(t, nil, args...)
	if err == nil || !strings.Contains(err.Error(), "is vigil-collector running") {
		t.Fatalf("no collector: %v", err)
	}
}

func TestConfigFileAndEnvironment(t *testing.T) {
	c := startCollector(t)
	cfg := filepath.Join(t.TempDir(), "vigilctl.yaml")
	content := fmt.Sprintf("server: %s\nca: %s\ncert: %s\nkey: %s\n", "127.0.0.1:1",
		filepath.Join(c.certs, pki.CAFile), filepath.Join(c.certs, "admin.pem"), filepath.Join(c.certs, "admin-key.pem"))
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGILCTL_SERVER", c.addr) // the environment beats the file
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"nodes", "--config", cfg})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("nodes with config file and env: %v", err)
	}
	if err := os.WriteFile(cfg, []byte("sever: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = newRootCmd()
	cmd.SetArgs([]string{"nodes", "--config", cfg})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `unknown key "sever"`) {
		t.Fatalf("misspelt key: %v", err)
	}
}

func TestCertsRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, nil, "certs", "--dir", dir, "--node", "n1"); err != nil || !strings.Contains(out, "n1-key.pem") {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	if _, err := run(t, nil, "certs", "--dir", dir); err == nil {
		t.Fatal("certs overwrote a CA")
	}
}

func TestProfilesCommands(t *testing.T) {
	c := startCollector(t)
	const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	c.submitDraft(t, "nginx:1.27", digest, "/usr/sbin/nginx")
	c.submitDraft(t, "nginx:1.27", digest, "/usr/sbin/nginx", "/usr/bin/curl")
	out, err := run(t, nil, c.flags("profiles", "list")...)
	if err != nil || !strings.Contains(out, digest) || !strings.Contains(out, "learn") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = run(t, nil, c.flags("profiles", "diff", digest)...)
	if err != nil || strings.TrimSpace(out) != "+ executables: /usr/bin/curl (1 node: node-a)" {
		t.Fatalf("diff of the latest against its predecessor: %v\n%s", err, out)
	}
	out, err = run(t, nil, c.flags("profiles", "diff", digest+"@1", digest+"@2", "--unified")...)
	if err != nil || !strings.Contains(out, "+    - path: /usr/bin/curl") {
		t.Fatalf("unified diff: %v\n%s", err, out)
	}
	out, err = run(t, nil, c.flags("profiles", "show", digest+"@1")...)
	if err != nil || !strings.Contains(out, "# version:  1 of [1 2]") || !strings.Contains(out, "kind: ImageProfile") {
		t.Fatalf("show v1: %v\n%s", err, out)
	}
	// Learned seconds ago from one container: not ready.
	_, err = run(t, nil, c.flags("profiles", "mode", digest, "enforce", "--expect-version", "2")...)
	if err == nil || !strings.Contains(err.Error(), "version 2 is not ready to enforce: learned a new entry") ||
		!strings.Contains(err.Error(), "learned from 1 container(s) (ready from 2") {
		t.Fatalf("enforcing a profile that is not ready: %v", err)
	}
	out, err = run(t, nil, c.flags("profiles", "show", digest)...)
	if err != nil || !strings.Contains(out, "# ready:    no: learned a new entry") {
		t.Fatalf("show says whether it is ready: %v\n%s", err, out)
	}
	out, err = run(t, nil, c.flags("profiles", "mode", digest, "enforce", "--expect-version", "2", "--force")...)
	if err != nil || !strings.Contains(out, "is now enforce (version 3)") {
		t.Fatalf("mode: %v\n%s", err, out)
	}
	if _, err := run(t, nil, c.flags("profiles", "mode", digest, "monitor", "--expect-version", "2")...); err == nil || !strings.Contains(err.Error(), "review it first") {
		t.Fatalf("stale --expect-version: %v", err)
	}
	file := filepath.Join(t.TempDir(), "p.yaml")
	if out, err := run(t, nil, c.flags("profiles", "export", digest, "-f", file)...); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	out, err = run(t, nil, c.flags("profiles", "export", digest, "--resource")...)
	if err != nil {
		t.Fatalf("export --resource: %v\n%s", err, out)
	}
	for _, want := range []string{"apiVersion: vigil.dev/v1\n", "kind: ImageProfile\n", "  name: sha256-1111111111111111111111111111111111111111111111111111111111111111\n",
		"  mode: enforce\n", "  expectVersion: 3\n", "  - path: /usr/bin/curl\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("export --resource has no %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "evidence") {
		t.Errorf("export --resource holds evidence:\n%s", out)
	}
	out, err = run(t, nil, c.flags("profiles", "import", file)...)
	if err != nil || !strings.Contains(out, "unchanged: "+digest+" version 3 (enforce)") {
		t.Fatalf("import of what version 3 is: %v\n%s", err, out)
	}
	if _, err := run(t, nil, c.flags("profiles", "import", file, "--mode", "monitor", "--expect-version", "2")...); err == nil || !strings.Contains(err.Error(), "review it first") {
		t.Fatalf("import with a stale --expect-version: %v", err)
	}
	out, err = run(t, nil, c.flags("profiles", "import", file, "--mode", "monitor", "--expect-version", "3")...)
	if err != nil || !strings.Contains(out, "as version 4 (monitor)") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err = run(t, nil, c.flags("profiles", "show", digest, "-o", "json")...)
	var shown map[string]any
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown["mode"] != "monitor" || shown["version"] != float64(4) {
		t.Fatalf("show -o json: %v\n%s", err, out)
	}
	if _, err := run(t, nil, c.flags("profiles", "show", digest+"@x")...); err == nil || !strings.Contains(err.Error(), "positive number") {
		t.Fatalf("bad ref: %v", err)
	}
}

// TestModeDryRunShowsWhatEnforceWouldRefuse: the alerts stored for an
// image in monitor mode, judged against its latest version: what is still
// outside it is listed, what it allows now is not, and nothing changes.
func TestModeDryRunShowsWhatEnforceWouldRefuse(t *testing.T) {
	c := startCollector(t)
	const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	c.submitDraft(t, "nginx:1.27", digest, "/usr/sbin/nginx")
	if out, err := run(t, nil, c.flags("profiles", "mode", digest, "monitor")...); err != nil {
		t.Fatalf("monitor: %v\n%s", err, out)
	}
	now := time.Now()
	var sent []*vigilv1.Alert
	for i, path := range []string{"/usr/bin/nc", "/usr/bin/nc", "/usr/sbin/nginx"} {
		a := alert(fmt.Sprint("dry-", i), "shop", now.Add(-time.Duration(i+1)*time.Minute))
		a.Container.ImageDigest, a.Container.Id = digest, fmt.Sprint("container-", i)
		a.Object.Path, a.Access, a.Action, a.Count = path, "exec", vigilv1.Action_ACTION_ALERTED, 2
		sent = append(sent, a)
	}
	old := alert("dry-old", "shop", now.Add(-3*time.Hour))
	old.Container.ImageDigest = digest
	c.send(t, append(sent, old)...)

	out, err := run(t, nil, c.flags("profiles", "mode", digest, "enforce", "--dry-run", "--since", "1h")...)
	if err != nil || !strings.Contains(out, "alerts judged against version 2: 3\n") ||
		!strings.Contains(out, "would refuse 1 distinct actions:") || !regexp.MustCompile(`exec\s+/usr/bin/nc\s+exec\s+4\s+2\s`).MatchString(out) ||
		strings.Contains(out, "/usr/sbin/nginx") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, err = run(t, nil, c.flags("profiles", "show", digest, "-o", "json")...)
	if err != nil || !strings.Contains(out, `"mode":"monitor"`) || !strings.Contains(out, `"version":2,`) {
		t.Fatalf("a dry run changed the profile: %v\n%s", err, out)
	}
	if _, err := run(t, nil, c.flags("profiles", "mode", digest, "monitor", "--dry-run")...); err == nil {
		t.Fatal("a dry run of monitor mode was accepted")
	}
}

// TestInheritedProfileDiffShowsTheDelta: a new digest of a repository
// whose agents inherited the promoted profile of the previous one becomes
// a version of its own, and diff shows it against its parent with what the
// new digest did beyond it.
func TestInheritedProfileDiffShowsTheDelta(t *testing.T) {
	c := startCollector(t)
	const parent = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const child = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	c.submitDraft(t, "shop/app:1.0", parent, "/bin/app")
	if out, err := run(t, nil, c.flags("profiles", "mode", parent, "enforce", "--expect-version", "1", "--force")...); err != nil {
		t.Fatalf("promote the parent: %v\n%s", err, out)
	}
	c.submitDelta(t, profile.Ref(parent, 2), "shop/app:1.1", child, "/bin/new-in-1.1")
	out, err := run(t, nil, c.flags("profiles", "diff", child)...)
	want := "~ mode: enforce -> monitor\n? executables: /bin/new-in-1.1 (delta: 1 node: node-a)"
	if err != nil || strings.TrimSpace(out) != want {
		t.Fatalf("diff of an inherited profile: %v\n%s\nwant\n%s", err, out, want)
	}
	out, err = run(t, nil, c.flags("profiles", "show", child)...)
	if err != nil || !strings.Contains(out, "inheritedFrom: "+parent+"@2") || !strings.Contains(out, "- path: /bin/app") {
		t.Fatalf("show the inherited version: %v\n%s", err, out)
	}
}
