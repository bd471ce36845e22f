package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/kubeenv"
	"github.com/vigil-dev/vigil/test/testutil"
)

// The fleet's namespace and accounts, as the deploy base names them.
const (
	fleetNS       = "vigil"
	fleetAgentSA  = "vigil-agent"
	fleetAudience = "vigil"
)

// entrypointWarning is what an agent logs when an enforced profile would
// not let a container start again.
const entrypointWarning = "the enforced profile does not allow the container's own entrypoint: it could not start again"

// Denials each node makes before and after the replica is killed.
const deniedBefore, deniedAfter = 5, 6

// TestFleet is issue 16's done-when test. A real API server gets the deploy
// base's namespace, ServiceAccounts, RBAC and ImageProfile CRD; two real
// vigil-collector processes share one real PostgreSQL, with the
// vigil-collector ServiceAccount's RBAC; two real vigil-agent processes, one
// per node, each with a containerd of its own, join with a pod-bound
// ServiceAccount token only. An ImageProfile applied with kubectl enforces
// busybox's sh and sleep on both nodes: any other program is killed. The
// replica both agents stream to is SIGKILLed; denials go on, and the
// survivor lists every one once, as its node's, with its container, image
// and ACTION_KILLED.
func TestFleet(t *testing.T) {
	testutil.RequireRoot(t)
	collectorBin, agentBin, vigilctl := buildCommand(t, "vigil-collector"), buildCommand(t, "vigil-agent"), buildVigilctl(t)

	kube := kubeenv.Start(t)
	base := filepath.Join("..", "..", "deploy", "daemonset", "base")
	kube.Kubectl(t, "apply", "-f", filepath.Join(base, "namespace.yaml"))
	kube.Kubectl(t, "apply", "-n", fleetNS, "-f", filepath.Join(base, "serviceaccounts.yaml"), "-f", filepath.Join(base, "collector-rbac.yaml"),
		"-f", filepath.Join(base, "profiles-rbac.yaml"), "-f", filepath.Join(base, "crds", "imageprofiles.vigil.dev.yaml"))
	kube.Kubectl(t, "wait", "--for", "condition=Established", "--timeout", "60s", "crd/imageprofiles.vigil.dev")
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "collector.kubeconfig")
	if err := os.WriteFile(kubeconfig, kube.ServiceAccountKubeconfig(t, fleetNS, "vigil-collector", time.Hour), 0o600); err != nil {
		t.Fatal(err)
	}

	certs := filepath.Join(dir, "certs")
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1", "localhost"}, Consumers: []string{"admin"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	dsn := testutil.StartPostgres(t)
	addrs := []string{testutil.FreeAddr(t), testutil.FreeAddr(t)}
	// The first replica alone at first: both agents, given both addresses,
	// stream to it, and it is the one killed.
	first := startFleetCollector(t, collectorBin, addrs[0], certs, dsn, kubeconfig)

	busybox := containerdtest.BusyboxImage(t)
	digest := busybox.ManifestDigest.String()
	tools := t.TempDir()
	copyFile(t, "/bin/busybox", filepath.Join(tools, "busybox"), 0o755)
	nodes := []*fleetNode{{name: "node-1"}, {name: "node-2"}}
	for i, n := range nodes {
		n.pod = "vigil-agent-" + strconv.Itoa(i+1)
		kube.Apply(t, "apiVersion: v1\nkind: Node\nmetadata: {name: "+n.name+"}\n")
		kube.Apply(t, podYAML(n.pod, n.name))
		n.world = newWorld(t, fmt.Sprintf("fleet%d", i+1), busybox)
		// Every denial execs a program of its own: each is a behaviour of
		// its own, alerted once, whatever the agent's dedup window.
		for k := range deniedBefore + deniedAfter {
			if err := os.Link(filepath.Join(tools, "busybox"), filepath.Join(tools, n.program(k))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, n := range nodes {
		token := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(token, []byte(kube.ServiceAccountToken(t, fleetNS, fleetAgentSA, n.pod, fleetAudience, time.Hour)), 0o600); err != nil {
			t.Fatal(err)
		}
		// Each agent claims the other node: the collector must name it by
		// its pod's node all the same.
		n.agent = startFleetAgent(t, agentBin, n.world, strings.Join(addrs, ","), token, filepath.Join(certs, pki.CAFile), nodes[1-i].name)
	}
	waitFor(t, "both agents streaming to the first replica", func() bool { return first.metric(t, "vigil_collector_agent_streams") == 2 })
	second := startFleetCollector(t, collectorBin, addrs[1], certs, dsn, kubeconfig)

	for _, n := range nodes {
		n.ctr = n.world.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: n.world.ns, Args: []string{"/bin/sleep", "3600"},
			Binds:  map[string]string{tools: "/opt/tools"},
			Labels: containerdtest.CRILabels("shop-"+n.name, "shop", "uid-"+n.name, "cart")})
	}

	// Promote with kubectl apply: enforce, busybox's sh and sleep only.
	profileFile := filepath.Join(dir, "profile.yaml")
	if err := os.WriteFile(profileFile, []byte(`apiVersion: vigil.dev/v1
kind: ImageProfile
metadata:
  name: `+strings.Replace(digest, ":", "-", 1)+`
spec:
  digest: `+digest+`
  image: `+containerdtest.BusyboxImageName+`
  mode: enforce
  executables:
    - {path: /bin/busybox, as: sh}
    - {path: /bin/busybox, as: sleep}
  files:
    - {path: /**, access: readwrite}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kube.Kubectl(t, "apply", "-f", profileFile)
	for _, n := range nodes {
		waitFor(t, n.name+"'s agent enforcing the applied profile", func() bool {
			return scrape(t, "http://"+n.agent.metrics+"/metrics", "vigil_kernel_profiled_containers") == 1
		})
	}

	consumers := []vigilv1.ConsumerServiceClient{testutil.ConsumerClient(t, certs, addrs[0]), testutil.ConsumerClient(t, certs, addrs[1])}
	for k := range deniedBefore {
		for _, n := range nodes {
			n.deny(t, k)
		}
	}
	for _, n := range nodes {
		waitFor(t, n.name+"'s denials stored", func() bool { return n.stored(t, consumers[0], deniedBefore) })
	}

	// The failover: SIGKILL the replica both agents stream to, and watch
	// the survivor every 50 ms.
	if got := first.metric(t, "vigil_collector_agent_streams"); got != 2 {
		t.Fatalf("the first replica holds %v agent streams before the kill, want both", got)
	}
	killed := time.Now()
	first.kill(t)
	moved := make(chan time.Duration, 1)
	go func() {
		for second.metric(t, "vigil_collector_agent_streams") != 2 && time.Since(killed) < time.Minute {
			time.Sleep(50 * time.Millisecond)
		}
		moved <- time.Since(killed)
	}()
	for _, n := range nodes {
		n.deny(t, deniedBefore)
	}
	for _, n := range nodes {
		waitFor(t, n.name+"'s first denial after the kill, through the survivor", func() bool {
			return n.stored(t, consumers[1], deniedBefore+1)
		})
		n.firstAfterKill = time.Since(killed)
	}
	streamsMoved := <-moved
	if second.metric(t, "vigil_collector_agent_streams") != 2 {
		t.Fatalf("the agents' streams did not reach the survivor within a minute")
	}
	for k := deniedBefore + 1; k < deniedBefore+deniedAfter; k++ {
		for _, n := range nodes {
			n.deny(t, k)
		}
	}
	for _, n := range nodes {
		waitFor(t, n.name+"'s denials after the kill, through the survivor", func() bool {
			return n.stored(t, consumers[1], deniedBefore+deniedAfter)
		})
	}

	// Every denial once, as the survivor lists it to vigilctl.
	out, err := exec.Command(vigilctl, "alerts", "list", "-o", "json", "--limit", "10000", "--server", addrs[1],
		"--ca", filepath.Join(certs, pki.CAFile), "--cert", filepath.Join(certs, "admin.pem"), "--key", filepath.Join(certs, "admin-key.pem")).Output()
	if err != nil {
		t.Fatalf("vigilctl alerts list: %v\n%s", err, out)
	}
	seen := map[string]int{}
	var alerts int
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var a vigilv1.Alert
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("vigilctl alerts list line %q: %v", line, err)
		}
		alerts++
		if a.GetKind() != vigilv1.Kind_KIND_EXEC {
			continue
		}
		path := a.GetObject().GetPath()
		i := slices.IndexFunc(nodes, func(n *fleetNode) bool { return n.owns(path) })
		if i < 0 {
			t.Errorf("alert %s: an exec the test did not make", line)
			continue
		}
		n := nodes[i]
		if a.GetNode() != n.name || a.GetAction() != vigilv1.Action_ACTION_KILLED || a.GetCount() != 1 ||
			a.GetContainer().GetId() != n.ctr.ID || a.GetContainer().GetImageDigest() != digest || a.GetContainer().GetPod() != "shop-"+n.name {
			t.Errorf("alert %s: want a kill of a program of one node's, as that node's, in its container %s of image %s", line, n.ctr.ID, digest)
			continue
		}
		seen[path]++
	}
	var lost, twice int
	for _, n := range nodes {
		for k := range deniedBefore + deniedAfter {
			switch c := seen["/opt/tools/"+n.program(k)]; {
			case c == 0:
				lost++
			case c > 1:
				twice += c - 1
			}
		}
	}
	if lost != 0 || twice != 0 {
		t.Errorf("of %d denials, %d not listed and %d listed twice (%d alerts listed)", len(nodes)*(deniedBefore+deniedAfter), lost, twice, alerts)
	}
	// Two agents on one host: each judges its own containerd's container
	// alone, never the other node's. The profile allows the container's
	// entrypoint, busybox as sleep: no agent may warn that it does not.
	for _, n := range nodes {
		if fields, warned := n.agent.find(t, entrypointWarning); warned {
			t.Errorf("%s's agent warned that the profile does not allow the entrypoint: %v", n.name, fields)
		}
		if got := scrape(t, "http://"+n.agent.metrics+"/metrics", "vigil_kernel_profiled_containers"); got != 1 {
			t.Errorf("%s's agent judges %v containers, want its own one", n.name, got)
		}
	}
	nodeList, err := consumers[1].ListNodes(context.Background(), &vigilv1.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodeList.GetNodes() {
		names = append(names, n.GetNode())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"node-1", "node-2"}) {
		t.Errorf("nodes at the survivor: %v, want the pods' nodes node-1 and node-2", names)
	}

	// Each agent joined, with the second replica down, as its pod's node.
	// (A join that waited for the down replica, 30 s, would have failed
	// the wait for both agents' streams above.)
	for _, n := range nodes {
		if fields := n.agent.logged(t, "joined the collector"); fields["node"] != n.name {
			t.Errorf("%s's agent joined as %v, want its pod's node", n.name, fields["node"])
		}
	}
	t.Logf("fleet failover: both agents' streams on the survivor %v after the SIGKILL", streamsMoved.Round(time.Millisecond))
	for _, n := range nodes {
		t.Logf("fleet failover: first new denial of %s stored through the survivor %v after the SIGKILL (the exec that makes it included)", n.name, n.firstAfterKill.Round(time.Millisecond))
	}
	t.Logf("fleet failover: %d denials, %d lost, %d stored twice", len(nodes)*(deniedBefore+deniedAfter), lost, twice)
}

// fleetNode is one node of TestFleet: its agent's pod, a containerd of its
// own (its world), its agent and its workload.
type fleetNode struct {
	name, pod      string
	world          world
	agent          *fleetProcess
	ctr            *containerdtest.Container
	firstAfterKill time.Duration
}

// program is the name of the node's k-th denied program in /opt/tools.
func (n *fleetNode) program(k int) string { return fmt.Sprintf("deny-%s-%02d", n.name, k) }

func (n *fleetNode) owns(path string) bool {
	return strings.HasPrefix(path, "/opt/tools/deny-"+n.name+"-")
}

// deny execs the node's k-th denied program in its container, which must be
// killed before it runs.
func (n *fleetNode) deny(t *testing.T, k int) {
	t.Helper()
	_, out := n.ctr.Exec(t, "/bin/sh", "-c", "/opt/tools/"+n.program(k)+"; echo rc=$?")
	// Run, busybox would say "applet not found" and exit 127.
	if strings.Contains(out, "applet") || !strings.Contains(out, "rc=137") {
		t.Fatalf("%s: exec of %s: %q, want it killed (rc=137) before it ran", n.name, n.program(k), out)
	}
}

// stored says whether the collector behind c holds the node's first count
// denials.
func (n *fleetNode) stored(t *testing.T, c vigilv1.ConsumerServiceClient, count int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: &vigilv1.AlertFilter{Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_EXEC}}, Limit: 10000})
	if err != nil {
		return false
	}
	for k := range count {
		if !slices.ContainsFunc(r.GetAlerts(), func(a *vigilv1.Alert) bool { return a.GetObject().GetPath() == "/opt/tools/"+n.program(k) }) {
			return false
		}
	}
	return true
}

// podYAML is an agent's pod bound to node (no kubelet runs it; a token
// bound to it is all the test needs).
func podYAML(pod, node string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  serviceAccountName: %s
  automountServiceAccountToken: false
  nodeName: %s
  containers: [{name: agent, image: vigil-agent}]
`, pod, fleetNS, fleetAgentSA, node)
}

// fleetProcess is a collector or agent process of the test's; its log goes
// to a file, whose end is printed if the test fails.
type fleetProcess struct {
	name, addr, http, metrics string
	cmd                       *exec.Cmd
	exited                    chan struct{}
	log                       string
}

// logged is the fields of the first line of the process's log with
// message msg.
func (p *fleetProcess) logged(t *testing.T, msg string) map[string]any {
	t.Helper()
	fields, ok := p.find(t, msg)
	if !ok {
		t.Fatalf("%s never logged %q:\n%s", p.name, msg, lastLines(p.log, 40))
	}
	return fields
}

// find is the fields of the first line of the process's log with message
// msg. The log is zap's console format: time, level, caller, message and
// the fields as JSON, tab-separated.
func (p *fleetProcess) find(t *testing.T, msg string) (map[string]any, bool) {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.SplitN(line, "\t", 5)
		if len(f) < 5 || f[3] != msg {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(f[4]), &fields); err != nil {
			t.Fatalf("%s: fields of %q: %v", p.name, line, err)
		}
		return fields, true
	}
	return nil, false
}

func startFleetProcess(t *testing.T, name, bin string, args ...string) *fleetProcess {
	t.Helper()
	p := &fleetProcess{name: name, exited: make(chan struct{}), log: filepath.Join(t.TempDir(), name+".log")}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s's log ends:\n%s", name, lastLines(p.log, 40))
		}
	})
	return p
}

// kill SIGKILLs the process and waits until it is gone.
func (p *fleetProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

func (p *fleetProcess) metric(t *testing.T, series string) float64 {
	return scrape(t, "http://"+p.http+"/metrics", series)
}

// startFleetCollector runs vigil-collector as the deployment does with
// --join and --profile-crds, on the shared PostgreSQL, until it is ready.
func startFleetCollector(t *testing.T, bin, addr, certs, dsn, kubeconfig string) *fleetProcess {
	t.Helper()
	httpAddr := testutil.FreeAddr(t)
	// --draft-min-nodes 3: the two nodes' drafts never make a profile of
	// their own, so the one in force is the one applied.
	p := startFleetProcess(t, "collector-"+addr, bin, "--listen", addr, "--http-listen", httpAddr,
		"--tls-cert", filepath.Join(certs, pki.ServerCertFile), "--tls-key", filepath.Join(certs, pki.ServerKeyFile),
		"--client-ca", filepath.Join(certs, pki.CAFile), "--ca-key", filepath.Join(certs, pki.CAKeyFile),
		"--store", dsn, "--join", "--profile-crds", "--kubeconfig", kubeconfig, "--draft-min-nodes", "3", "--shutdown-grace", "2s")
	p.addr, p.http = addr, httpAddr
	waitUp(t, p, "http://"+httpAddr+"/readyz")
	return p
}

// startFleetAgent runs `vigil-agent run` on the world's containerd, joining
// at target with the token file alone; it claims node in --node-name.
func startFleetAgent(t *testing.T, bin string, w world, target, tokenFile, ca, node string) *fleetProcess {
	t.Helper()
	metrics := testutil.FreeAddr(t)
	p := startFleetProcess(t, "agent-"+w.ns, bin, "run", "--node-name", node, "--collector", target,
		"--join-token-file", tokenFile, "--collector-ca", ca, "--containerd-socket", w.d.Address,
		"--state-dir", t.TempDir(), "--pin-dir", "", "--profiles-dir", "", "--alerts-file", "",
		"--metrics-addr", metrics, "--status-interval", "1s")
	p.metrics = metrics
	waitUp(t, p, "http://"+metrics+"/readyz")
	return p
}

// waitUp waits until url answers 200, or the process exits.
func waitUp(t *testing.T, p *fleetProcess, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, lastLines(p.log, 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not ready within a minute\n%s", p.name, url, lastLines(p.log, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape reads one series of a /metrics page (0 if absent or unreachable).
func scrape(t *testing.T, url, series string) float64 {
	r, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer r.Body.Close()
	page, err := io.ReadAll(r.Body)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(page), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", series, line)
			}
			return f
		}
	}
	return 0
}

func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
