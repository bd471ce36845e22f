package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/agent"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestRestartGapReported restarts a real agent shipping to a real collector
// over mTLS: the second run reports the time no agent watched as one alert
// (kind agent_gap) whose bounds enclose the real stop and start, and as a
// metric; the first run, with an empty state directory, reports none.
func TestRestartGapReported(t *testing.T) {
	testutil.RequireRoot(t)
	consumer, collectorCfg := collectorFor(t, "gap-node", 300*time.Millisecond)
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.AlertsFile, cfg.ContainerdSocket, cfg.PinDir = "gap-node", t.TempDir(), "", "", ""
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{testutil.NewCgroup(t).ID}
	cfg.Collector = collectorCfg

	ctx := context.Background()
	gaps := func() []*vigilv1.Alert {
		r, err := consumer.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: &vigilv1.AlertFilter{Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_AGENT_GAP}}})
		if err != nil {
			t.Fatalf("list alerts: %v", err)
		}
		return r.Alerts
	}

	_, firstReg, stopFirst := runAgent(t, cfg)
	defer stopFirst()
	waitFor(t, "the first run listed by the collector", func() bool {
		n, err := consumer.ListNodes(ctx, &vigilv1.ListNodesRequest{})
		return err == nil && len(n.Nodes) == 1
	})
	if g := metric(t, firstReg, "vigil_agent_restart_gap_seconds"); g != 0 {
		t.Errorf("first start: gap metric %v, want 0", g)
	}
	stopping := time.Now()
	stopFirst()
	stopped := time.Now()
	time.Sleep(300 * time.Millisecond) // no agent runs

	starting := time.Now()
	_, secondReg, stopSecond := runAgent(t, cfg)
	started := time.Now()
	defer stopSecond()
	var got []*vigilv1.Alert
	waitFor(t, "the gap alert stored by the collector", func() bool { got = gaps(); return len(got) > 0 })
	time.Sleep(500 * time.Millisecond) // a second alert would have arrived by now
	if got = gaps(); len(got) != 1 {
		t.Fatalf("%d gap alerts, want 1: %v", len(got), got)
	}
	a := got[0]
	from, to := a.GetFirstSeen().AsTime(), a.GetLastSeen().AsTime()
	if from.Before(stopping) || from.After(stopped) {
		t.Errorf("gap starts %v, want when the first run stopped reading: between %v and %v", from, stopping, stopped)
	}
	if to.Before(starting) || to.After(started) {
		t.Errorf("gap ends %v, want when the second run attached: between %v and %v", to, starting, started)
	}
	if a.GetNode() != "gap-node" || a.GetRule() != "agent-restart-gap" ||
		!strings.Contains(a.GetDetail(), "agent restart: events from "+from.UTC().Format(time.RFC3339Nano)+" to "+to.UTC().Format(time.RFC3339Nano)+" were not seen") {
		t.Errorf("gap alert %v", a)
	}
	secs, err := strconv.ParseFloat(a.GetLabels()["gap_seconds"], 64)
	if want := to.Sub(from).Seconds(); err != nil || secs < want-0.001 || secs > want+0.001 {
		t.Errorf("gap_seconds label %q, want %.3f", a.GetLabels()["gap_seconds"], want)
	}
	if m := metric(t, secondReg, "vigil_agent_restart_gap_seconds"); m != to.Sub(from).Seconds() {
		t.Errorf("gap metric %v, want %v", m, to.Sub(from).Seconds())
	}
	if secs < 0.3 {
		t.Errorf("gap of %vs, shorter than the 0.3 s no agent ran", secs)
	}
	t.Logf("restart gap reported: %.3f s (stop to start measured by the test: %v)", secs, starting.Sub(stopping).Round(time.Millisecond))
}
