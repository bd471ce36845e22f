package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintStatus(t *testing.T) {
	metrics := `# HELP vigil_enforcement_tier x
vigil_enforcement_tier{hook="exec",reason="BPF LSM programs cannot load here: \"x\"",tier="signal"} 1
vigil_enforcement_tier{hook="open",reason="no fanotify",tier="alert-only"} 1
vigil_sensor_events_lost_total{type="open",where="queue"} 12
vigil_sensor_events_lost_total{type="open",where="ring_buffer"} 0
vigil_enforcement_actions_total{action="killed",type="exec"} 3
`
	var b bytes.Buffer
	if err := printStatus(&b, metrics); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"exec", "signal", "alert-only", `cannot load here: "x"`, `sensor_events_lost_total{type="open",where="queue"} 12`, `enforcement_actions_total{action="killed",type="exec"} 3`} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `where="ring_buffer"`) {
		t.Errorf("zero counters are printed:\n%s", out)
	}
	if err := printStatus(&b, "vigil_other 1\n"); err == nil {
		t.Error("metrics without tiers were taken for an agent's")
	}
}
