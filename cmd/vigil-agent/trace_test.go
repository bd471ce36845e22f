package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/trace"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestTraceJSON runs `vigil-agent trace --json` scoped to a test cgroup and
// checks the public schema of what it prints and the metrics it serves.
func TestTraceJSON(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	root := strings.TrimSuffix(cg.Path, "/"+filepath.Base(cg.Path))
	metricsAddr := testutil.FreeAddr(t)

	out, w := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := newRootCommand()
	cmd.SetOut(w)
	cmd.SetArgs([]string{"trace", "--json", "--types", "exec,connect", "--log-level", "warn",
		"--metrics-addr", metricsAddr, "--cgroup", strings.TrimPrefix(cg.Path, root)})
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		w.Close()
	}()

	lines := make(chan trace.JSON)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var j trace.JSON
			if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
				t.Errorf("output line is not JSON: %v: %s", err, sc.Text())
				continue
			}
			lines <- j
		}
		close(lines)
	}()

	// Ready means attached: a workload run once right after is traced.
	waitReady(t, ctx, "http://"+metricsAddr+"/readyz", done)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c := cg.Command("/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", port))
	if err := c.Run(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	var execSeen, connectSeen bool
	for !execSeen || !connectSeen {
		select {
		case j, ok := <-lines:
			if !ok {
				t.Fatalf("trace ended early: %v", <-done)
			}
			checkRecord(t, j, port, &execSeen, &connectSeen)
		case <-ctx.Done():
			t.Fatalf("saw exec %v, connect %v of the workload run once ready", execSeen, connectSeen)
		}
	}

	metrics := get(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{`vigil_sensor_kernel_events_total{type="exec"}`, `vigil_sensor_events_lost_total{type="exec",where="ring_buffer"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if got := get(t, "http://"+metricsAddr+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/healthz = %q", got)
	}
	// Keep reading, or the command blocks writing to the pipe and never ends.
	go func() {
		for range lines {
		}
	}()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("trace: %v", err)
	}
}

func checkRecord(t *testing.T, j trace.JSON, port int, execSeen, connectSeen *bool) {
	t.Helper()
	if j.Time.IsZero() || j.PID == 0 || j.CgroupID == 0 || j.Comm == "" {
		t.Errorf("record lacks header fields: %+v", j)
	}
	switch j.Type {
	case "exec":
		if j.Exec == nil || j.Exec.Path != "/usr/bin/bash" || j.Exec.Inode.Ino == 0 || len(j.Exec.Argv) != 3 {
			t.Errorf("exec record = %+v", j.Exec)
		}
		if len(j.Ancestry) == 0 || j.Ancestry[0].PID != uint32(os.Getpid()) {
			t.Errorf("exec ancestry = %+v, want the test process first", j.Ancestry)
		}
		*execSeen = true
	case "connect":
		if j.Connect != nil && j.Connect.Family == "unix" && j.Connect.UnixPath == "/var/run/nscd/socket" {
			// bash's libc asks nscd for the user when HOME or USER is unset, as under CI.
			return
		}
		if j.Connect == nil || j.Connect.Address != "127.0.0.1" || int(j.Connect.Port) != port ||
			j.Connect.Family != "inet" || j.Connect.Protocol != "tcp" {
			t.Errorf("connect record = %+v", j.Connect)
		}
		*connectSeen = true
	default:
		t.Errorf("type %q printed, only exec and connect were asked for", j.Type)
	}
}

// waitReady polls url until it answers 200, failing if the command ends
// (done) or ctx does first.
func waitReady(t *testing.T, ctx context.Context, url string, done <-chan error) {
	t.Helper()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("ended before it was ready: %v", err)
		case <-ctx.Done():
			t.Fatal("not ready before the deadline")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// holdAgentMetricsPort makes sure something listens on the agent's default
// metrics address for the rest of the test, as a running agent does: a
// listener of this test, or whatever holds it already.
func holdAgentMetricsPort(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", agent.DefaultMetricsAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

// TestTraceBesideAnAgent runs trace with its defaults while the agent's
// metrics address is taken.
func TestTraceBesideAnAgent(t *testing.T) {
	testutil.RequireRoot(t)
	holdAgentMetricsPort(t)
	cg := testutil.NewCgroup(t)
	root := strings.TrimSuffix(cg.Path, "/"+filepath.Base(cg.Path))
	if _, _, err := execute(t, "trace", "--duration", "500ms", "--log-level", "warn", "--containerd-socket", "",
		"--cgroup", strings.TrimPrefix(cg.Path, root)); err != nil {
		t.Fatalf("trace beside an agent: %v", err)
	}
}

// TestMetricsAddressTaken asks trace and run to serve metrics where a real
// listener holds the port: each fails before loading anything, saying what
// to do.
func TestMetricsAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, c := range []struct {
		args []string
		hint string
	}{
		{[]string{"trace", "--metrics-addr", addr}, "leave --metrics-addr out to serve none"},
		{[]string{"run", "--metrics-addr", addr, "--node-name", "n1", "--collector", ""}, "is an agent running already?"},
	} {
		_, _, err := execute(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s on a taken address: %v, want the hint %q", c.args[0], err, c.hint)
		}
	}
}
