package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestEnforcementSurvivesRestart enforces a profile, stops the agent, and
// keeps trying a forbidden exec and a forbidden read in the container while
// no agent runs and while a new agent takes over: every exec must be
// killed (no gap), every read refused by the fanotify listener or, while
// no listener runs, killed by the pinned open guard before it reads (none
// may succeed), every kill alerted exactly once as killed (what the pinned
// programs did while no agent read is drained by the next) or, should the
// pinned ring have filled up, counted lost by the new agent, and the new
// agent must release the old agent's pinned programs.
func TestEnforcementSurvivesRestart(t *testing.T) {
	testutil.RequireRoot(t)
	ns := fmt.Sprintf("vigil-e2e-restart-%d", os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns)
	d := containerdtest.Start(t)
	busybox := containerdtest.BusyboxImage(t)
	d.Import(t, ns, busybox)
	digest := busybox.ManifestDigest.String()
	pins := filepath.Join("/sys/fs/bpf", ns)
	t.Cleanup(func() {
		if _, err := enforce.Unpin(pins); err != nil {
			t.Errorf("unpin: %v", err)
		}
		os.Remove(pins)
	})

	tools := t.TempDir()
	copyFile(t, "/bin/busybox", filepath.Join(tools, "tool"), 0o755)
	profiles := t.TempDir()
	cfg := agent.DefaultConfig()
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg.Node, cfg.StateDir, cfg.ProfilesDir, cfg.AlertsFile = "e2e-node", t.TempDir(), profiles, alerts
	cfg.DedupWindow = time.Nanosecond // one alert per kill: each is counted
	cfg.ContainerdSocket, cfg.PinDir = d.Address, pins
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{scope}

	first, _, stopFirst := runAgent(t, cfg)
	c := d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: ns, Args: []string{"/bin/sleep", "3600"},
		Binds: map[string]string{tools: "/opt/tools"}})
	// The loops below log through open(2), which fanotify judges: learn it.
	execIn(t, c, "ls / >/dev/null; sleep 0.01; echo 0 >> /opt/tools/log; echo 0 >> /opt/tools/readlog; /bin/sh -c true; true")
	learned := waitDraft(t, first, digest, func(p *profile.Profile) bool {
		return hasFile(p, "/opt/tools/log") && hasFile(p, "/opt/tools/readlog")
	})
	for _, f := range []string{"log", "readlog"} {
		if err := os.Truncate(filepath.Join(tools, f), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tools, "secret"), []byte("s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeEnforce, 1
	doc, err := profile.Encode(learned)
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "busybox.yaml", doc)
	waitFor(t, "enforcement by the first agent", func() bool {
		ci, ok := first.Container(c.ID)
		return ok && first.Enforcing(ci)
	})

	// The container tries the forbidden binary every 20 ms, logging each
	// attempt's number (its argument, which its alert shows) and result.
	// And a child shell reads a file outside its profile every 20 ms, its
	// number its last argument: fanotify, a userspace listener, cannot
	// outlive the agent; while no listener runs the open guard kills.
	loopDone := make(chan struct{}, 2)
	for _, loop := range []string{
		"i=0; while [ ! -e /opt/tools/stop ]; do i=$((i+1)); /opt/tools/tool $i; echo $i:$? >> /opt/tools/log; sleep 0.02; done",
		"i=0; while [ ! -e /opt/tools/stop ]; do i=$((i+1)); /bin/sh -c 'read x < /opt/tools/secret' read $i 2>/dev/null; echo $i:$? >> /opt/tools/readlog; sleep 0.02; done",
	} {
		go func() {
			defer func() { loopDone <- struct{}{} }()
			c.Exec(t, "/bin/sh", "-c", loop)
		}()
	}
	waitFor(t, "the first attempts", func() bool { return len(attempts(t, tools)) >= 3 })

	stopped := time.Now()
	stopFirst()
	if n := generations(t, pins); n != 1 {
		t.Fatalf("%d pinned generations after the first agent stopped, want its 1", n)
	}
	before := len(attempts(t, tools))
	waitFor(t, "attempts with no agent running", func() bool { return len(attempts(t, tools)) >= before+5 })

	second, secondMetrics, stopSecond := runAgent(t, cfg)
	defer stopSecond()
	// The first agent handed its processes over: at least the container's
	// sleep and the two loops' shells run still.
	handover := func(outcome string) float64 {
		return metric(t, secondMetrics, "vigil_agent_process_handover_total", "outcome", outcome)
	}
	if live := handover("live"); live < 3 || metric(t, secondMetrics, "vigil_agent_process_handover_rejected_total") != 0 {
		t.Errorf("%v processes taken over from the first agent running still, want the container's 3 or more", live)
	}
	t.Logf("processes taken over from the first agent: %v live, %v exited since, %v pids reused, %v dropped",
		handover("live"), handover("exited"), handover("reused"), handover("dropped"))
	waitFor(t, "the second agent to take over", func() bool {
		ci, ok := second.Container(c.ID)
		return ok && second.Enforcing(ci) && generations(t, pins) == 1
	})
	during := len(attempts(t, tools))
	waitFor(t, "attempts under the second agent", func() bool { return len(attempts(t, tools)) >= during+5 })
	reads := len(readAttempts(t, tools))
	waitFor(t, "reads refused again under the second agent", func() bool {
		r := readAttempts(t, tools)
		if len(r) <= reads {
			return false
		}
		_, rc, _ := strings.Cut(r[len(r)-1], ":")
		return rc != "0" && rc != "137"
	})
	gap := time.Since(stopped)
	if err := os.WriteFile(filepath.Join(tools, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-loopDone
	<-loopDone

	readKilled := map[string]bool{}
	refused := 0
	for _, a := range readAttempts(t, tools) {
		switch n, rc, _ := strings.Cut(a, ":"); rc {
		case "0":
			t.Errorf("read attempt %s succeeded: a forbidden read went through", n)
		case "137":
			readKilled[n] = true
		default:
			refused++
		}
	}
	t.Logf("forbidden reads: %d refused by a fanotify listener, %d killed by the open guard while none ran; refused again %v after the first agent stopped",
		refused, len(readKilled), gap.Round(time.Millisecond))
	if len(readKilled) == 0 {
		t.Errorf("no read was killed: no read was tried while no listener ran")
	}

	all := attempts(t, tools)
	killed := map[string]bool{}
	for _, a := range all {
		n, rc, _ := strings.Cut(a, ":")
		if rc != "137" {
			t.Errorf("attempt %s of %d exited %s: the forbidden binary ran (137 is killed)", n, len(all), rc)
		}
		killed[n] = true
	}
	t.Logf("%d forbidden execs across the restart, all killed", len(all))

	// Every kill is alerted once, as a kill, whichever agent saw it, or
	// counted lost: the second agent reports the pinned programs' losses.
	lost := map[string]float64{}
	for _, typ := range []string{"exec", "open"} {
		lost[typ] = metric(t, secondMetrics, "vigil_sensor_judged_events_lost_total", "type", typ)
	}
	stopSecond()
	execAlerts, openAlerts := map[string][]string{}, map[string][]string{}
	for _, al := range readAlerts(t, alerts) {
		argv := al.Process.Argv
		switch {
		case al.Kind == "KIND_EXEC" && al.Object.Path == "/opt/tools/tool" && len(argv) == 2:
			execAlerts[argv[1]] = append(execAlerts[argv[1]], al.Action)
		case al.Kind == "KIND_OPEN" && al.Object.Path == "/opt/tools/secret" && al.Action == "ACTION_KILLED":
			if len(argv) != 5 {
				t.Errorf("a killed read alerted with argv %q, want the attempt's 5 arguments", argv)
				continue
			}
			openAlerts[argv[4]] = append(openAlerts[argv[4]], al.Action)
		}
	}
	killedOnce(t, "exec", killed, execAlerts, lost["exec"])
	killedOnce(t, "read", readKilled, openAlerts, lost["open"])
}

// killedOnce checks that each attempt the loop logged as killed was alerted
// once, as killed, and that no other attempt was. A kill not alerted must
// be one of the lost records of its type the agents counted: a full ring
// loses the kills themselves.
func killedOnce(t *testing.T, what string, killed map[string]bool, alerted map[string][]string, lost float64) {
	t.Helper()
	n := 0
	var missing []string
	for a := range killed {
		switch got := alerted[a]; {
		case len(got) == 0:
			missing = append(missing, a)
		case len(got) > 1 || got[0] != "ACTION_KILLED":
			t.Errorf("the kill of %s attempt %s was alerted as %v, want one ACTION_KILLED", what, a, got)
		default:
			n++
		}
	}
	for a, got := range alerted {
		if !killed[a] {
			t.Errorf("%s attempt %s alerted as %v, but the loop logged no such kill", what, a, got)
		}
	}
	t.Logf("%d of %d %s kills alerted once as killed; %d not alerted, %v %s records counted lost", n, len(killed), what, len(missing), lost, what)
	if float64(len(missing)) > lost {
		slices.SortFunc(missing, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
		t.Errorf("%d kills of %s attempts not alerted (%s … %s), more than the %v records counted lost", len(missing), what, missing[0], missing[len(missing)-1], lost)
	}
}

// runAgent starts an agent and returns its metrics and a function that
// stops it.
func runAgent(t *testing.T, cfg agent.Config) (*agent.Agent, *prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := agent.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), reg)
	if err != nil {
		t.Fatalf("start agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	return a, reg, func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}
}

func attempts(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func readAttempts(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "readlog"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func generations(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
