package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/store"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// demoTimeout bounds one run of the demo; it takes about 10 s here.
const demoTimeout = 3 * time.Minute

// TestDemo runs the demo as `make demo` does, on its own ports and state
// directory, answering its prompts, both ways it gets a containerd: once to
// the end with the node's (a containerd of the test harness stands for the
// one Debian's package starts under systemd), once with a private one,
// interrupted with SIGINT (Ctrl-C) at its first prompt. Either way the
// container runs before that prompt and everything is stopped after.
func TestDemo(t *testing.T) {
	testutil.RequireRoot(t)
	bin := buildBinaries(t)
	img, err := buildImage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	digest := img.ManifestDigest.String()

	t.Run("to the end, the node's containerd", func(t *testing.T) {
		node := containerdtest.Start(t)
		d := startDemo(t, bin, "--containerd-socket", node.Address)
		for _, next := range []string{"to start learning", "to promote the profile to monitor", "to enforce the profile"} {
			d.prompt(t, next)
			d.enter(t)
		}
		d.prompt(t, "to stop everything")
		// The refused connect once more: a repeat within the dedup window,
		// whose summary alert the agent sends as it stops. The collector
		// has it only if it outlived the agent.
		again := exec.Command("ctr", "-a", node.Address, "-n", d.namespace,
			"task", "exec", "--fifo-dir", filepath.Join(d.state, "fifo"), "--exec-id", "again", containerID, "sh", "-c", exfiltrate)
		if out, err := again.CombinedOutput(); !strings.Contains(string(out), "Operation not permitted") {
			t.Errorf("the refused connect, repeated: %v %q", err, out)
		}
		d.enter(t)
		if code := d.wait(t); code != 0 {
			t.Fatalf("demo exited %d\n%s", code, d.output())
		}
		assertNothingLeft(t, d)
		assertNodeContainerdKept(t, node, d.namespace)
		assertDraft(t, d, digest)
		assertCollector(t, d, digest)
		for _, cmd := range []string{"containerd: the node's, at " + node.Address, "vigil-agent status", "vigil-agent profiles list --state-dir", "vigil-agent profiles show " + digest,
			"vigilctl", "profiles mode " + digest + " monitor", "# ready:    no: ", "profiles mode " + digest + " enforce", "alerts list"} {
			if !strings.Contains(d.output(), cmd) {
				t.Errorf("the demo never printed %q", cmd)
			}
		}
	})

	t.Run("interrupted, a private containerd", func(t *testing.T) {
		d := startDemo(t, bin, "--private-containerd")
		d.prompt(t, "to start learning")
		if !strings.Contains(d.output(), "containerd: a private one in "+filepath.Join(d.state, "containerd")) {
			t.Errorf("the demo did not start a private containerd")
		}
		if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := d.wait(t); code != 130 {
			t.Fatalf("demo exited %d after SIGINT, want 130\n%s", code, d.output())
		}
		assertNothingLeft(t, d)
	})
}

// buildBinaries builds the vigil commands and the demo into a temp dir.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir, "./cmd/vigil-agent", "./cmd/vigil-collector", "./cmd/vigilctl", "./test/demo")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir
}

// demoRun is one demo process and what it printed.
type demoRun struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	state     string
	namespace string
	prompts   chan string // lines asking for Enter
	done      chan error
	out       containerdtest.SyncBuffer // stdout and stderr
}

// startDemo starts the demo with its own ports, state directory,
// certificates and containerd namespace; containerd says which containerd
// (--private-containerd, or --containerd-socket of the node's).
func startDemo(t *testing.T, bin string, containerd ...string) *demoRun {
	t.Helper()
	// Short: the private containerd's sockets live in it.
	state, err := os.MkdirTemp("", "vigil-demo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	d := &demoRun{state: filepath.Join(state, "s"), namespace: fmt.Sprintf("vigil-demo-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6),
		prompts: make(chan string, 8), done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	t.Cleanup(cancel)
	args := append([]string{"--bin", bin, "--state-dir", d.state,
		"--certs", filepath.Join(state, "certs"), "--node", "demo-test", "--collector-listen", testutil.FreeAddr(t),
		"--collector-http-listen", testutil.FreeAddr(t), "--metrics-addr", testutil.FreeAddr(t),
		"--namespace", d.namespace, "--pause"}, containerd...)
	d.cmd = exec.CommandContext(ctx, filepath.Join(bin, "demo"), args...)
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = &d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&d.out, line)
			if strings.HasPrefix(line, "[press Enter") {
				d.prompts <- line
			}
		}
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", d.output())
		}
	})
	return d
}

func (d *demoRun) output() string { return d.out.String() }

// prompt waits for the demo to ask for Enter with a line naming next.
func (d *demoRun) prompt(t *testing.T, next string) {
	t.Helper()
	select {
	case line := <-d.prompts:
		if !strings.Contains(line, next) {
			t.Fatalf("the demo asked %q, want the prompt %q", line, next)
		}
	case err := <-d.done:
		d.done <- err
		t.Fatalf("the demo ended (%v) before the prompt %q", err, next)
	case <-time.After(demoTimeout):
		t.Fatalf("no prompt %q after %s", next, demoTimeout)
	}
}

func (d *demoRun) enter(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(d.stdin, "\n"); err != nil {
		t.Fatal(err)
	}
}

// wait returns the demo's exit code.
func (d *demoRun) wait(t *testing.T) int {
	t.Helper()
	err := <-d.done
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	return 0
}

// assertNothingLeft checks the demo stopped everything it started: no
// process runs from its state directory (agent, collector, containerd,
// shims), nothing is mounted there, the private containerd's directory and
// the container's cgroup are gone.
func assertNothingLeft(t *testing.T, d *demoRun) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(d.state)) {
			t.Errorf("left running: %s", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], d.state) {
			t.Errorf("left mounted: %s", f[4])
		}
	}
	root, err := cgroup.Mountpoint(procfs.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(d.state, "containerd"), filepath.Join(d.state, "fifo"), filepath.Join(root, d.namespace+"-"+containerID)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("left behind: %s (%v)", p, err)
		}
	}
}

// assertNodeContainerdKept checks the demo left the node's containerd
// running, with nothing of its own in it: its namespace (container, image)
// is gone.
func assertNodeContainerdKept(t *testing.T, node *containerdtest.Daemon, namespace string) {
	t.Helper()
	if !node.Running() {
		t.Fatal("the demo stopped the node's containerd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	namespaces, err := node.Client(t).NamespaceService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(namespaces, namespace) {
		t.Errorf("the demo left its namespace %s in the node's containerd", namespace)
	}
}

// assertDraft checks the agent's saved draft holds what the shop did while
// it learned.
func assertDraft(t *testing.T, d *demoRun, digest string) {
	t.Helper()
	draft, err := draftOf(filepath.Join(d.state, "agent"), digest)
	if err != nil || draft == nil {
		t.Fatalf("the agent's draft of %s: %v, %v", digest, draft, err)
	}
	if err := allowsAll(draft.Profile(), learned...); err != nil {
		t.Errorf("draft: %v", err)
	}
}

// assertCollector checks the collector's store: the profile went learn,
// monitor, enforce; the monitor alert, the enforcement alerts and the
// summary the agent sent as it stopped all arrived.
func assertCollector(t *testing.T, d *demoRun, digest string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(d.state, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var modes []vigilv1.ProfileMode
	versions, err := st.ProfileVersions(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		p, err := st.GetProfile(ctx, digest, v)
		if err != nil {
			t.Fatal(err)
		}
		modes = append(modes, p.GetMode())
	}
	if n := len(modes); n < 3 || modes[n-2] != vigilv1.ProfileMode_PROFILE_MODE_MONITOR || modes[n-1] != vigilv1.ProfileMode_PROFILE_MODE_ENFORCE {
		t.Errorf("profile modes by version: %v, want learned versions, then monitor, then enforce", modes)
	}

	alerts, _, err := st.QueryAlerts(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, a := range alerts {
		found[describeAlert(a)] = true
	}
	execAction := "killed" // the signal tier; with BPF LSM the exec is refused
	if found["exec /opt/tools/busybox blocked"] {
		execAction = "blocked"
	}
	for _, want := range []string{
		"open /etc/shadow alerted",
		"exec /bin/busybox alerted", // cat
		"connect 127.0.0.1:4444 blocked",
		"exec /opt/tools/busybox " + execAction,
		"exec /bin/busybox killed", // nc: applets are judged after the exec on every tier
		"connect 127.0.0.1:4444 blocked summary of 2",
	} {
		if !found[want] {
			t.Errorf("the collector has no alert %q; it has %v", want, found)
		}
	}
	// busybox run as /proc/self/exe names itself for its applet after the
	// exec: the rename hook reports cat once more, which the agent's dedup
	// sends as a summary (a known limit, README: Enforcement).
	want := 6
	if found["exec /bin/busybox alerted summary of 2"] {
		want++
	}
	if got := len(alerts); got != want {
		t.Errorf("the collector has %d alerts, want %d: %v", got, want, found)
	}
}

// describeAlert is an alert's kind, object, action and, for a summary, its
// count.
func describeAlert(a *vigilv1.Alert) string {
	o := a.GetObject()
	object := o.GetPath()
	if a.GetKind() == vigilv1.Kind_KIND_CONNECT {
		object = net.JoinHostPort(o.GetAddress(), fmt.Sprint(o.GetPort()))
	}
	what := fmt.Sprintf("%s %s %s", a.GetKind().ShortName(), object, a.GetAction().ShortName())
	if a.GetLabels()["dedup"] == "summary" {
		what += fmt.Sprintf(" summary of %d", a.GetCount())
	}
	return what
}
