package main

import (
	"strings"
	"testing"
)

func TestCheckRow(t *testing.T) {
	if err := checkRow(row{Workload: "open one", Condition: "enforced"}); err != nil {
		t.Errorf("a row with no alert and no timeout: %v", err)
	}
	for _, c := range []struct {
		r    row
		want []string
	}{
		{row{Alerts: 3}, []string{"3 alerts"}},
		{row{FanotifyTimeouts: 1}, []string{"1 opens let through"}},
		{row{Alerts: 1, FanotifyTimeouts: 2}, []string{"1 alerts", "2 opens let through"}},
	} {
		err := checkRow(c.r)
		if err == nil {
			t.Errorf("checkRow(%+v) passed", c.r)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("checkRow(%+v) = %v, want it to say %q", c.r, err, w)
			}
		}
	}
}

// TestCounters checks that a repeat folded into a dedup summary counts as
// an alert, and that only the deadline's fanotify decisions count as
// timeouts.
func TestCounters(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP vigil_alerts_total x
vigil_alerts_total{action="deny",kind="open",pod_namespace=""} 2
vigil_alerts_repeats_total 5
vigil_fanotify_decisions_total{decision="allowed"} 100
vigil_fanotify_decisions_total{decision="timeout"} 3
vigil_sensor_kernel_events_total{type="open"} 10
vigil_sensor_events_lost_total{where="ring_buffer"} 1
vigil_sensor_events_lost_total{where="queue"} 2
`))
	if err != nil {
		t.Fatal(err)
	}
	s := m.counters()
	if s.alerts != 7 || s.timeouts != 3 || s.kernel != 11 || s.lost != 3 {
		t.Errorf("counters = %+v, want alerts 7, timeouts 3, kernel 11, lost 3", s)
	}
}
