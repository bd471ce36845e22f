package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigil-dev/vigil/test/testutil"
)

const agentMetrics = `# HELP vigil_enforcement_tier x
vigil_enforcement_tier{hook="exec",reason="BPF LSM programs cannot load here: \"x\"",tier="signal"} 1
vigil_enforcement_tier{hook="open",reason="no fanotify",tier="alert-only"} 1
vigil_sensor_hook_info{attach="fexit/do_sys_openat2",hook="open",reason=""} 1
vigil_sensor_hook_info{attach="tp_btf/sys_exit",hook="connect",reason="load connect-fexit programs: \"y\""} 1
vigil_sensor_events_lost_total{type="open",where="queue"} 12
vigil_sensor_events_lost_total{type="open",where="ring_buffer"} 0
vigil_sensor_events_delivered_total{type="open"} 1.515656e+06
vigil_enforcement_actions_total{action="killed",type="exec"} 3
`

func TestPrintStatus(t *testing.T) {
	r, err := parseStatus(agentMetrics)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.printTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"exec", "signal", "alert-only", `cannot load here: "x"`, "fexit/do_sys_openat2", `load connect-fexit programs: "y"`, `sensor_events_lost_total{type="open",where="queue"} 12`,
		`enforcement_actions_total{action="killed",type="exec"} 3`, `sensor_events_delivered_total{type="open"} 1515656`} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `where="ring_buffer"`) || strings.Contains(out, "e+06") {
		t.Errorf("zero counters or exponents printed:\n%s", out)
	}
	if _, err := parseStatus("vigil_other 1\n"); err == nil {
		t.Error("metrics without tiers were taken for an agent's")
	}
}

// TestPrintStatusEscapes prints a tier whose reason holds control
// characters (a mount path names the reason): they are escaped.
func TestPrintStatusEscapes(t *testing.T) {
	r, err := parseStatus("vigil_enforcement_tier{hook=\"open\",reason=\"fanotify mark /mnt/\x1b[2K\r: EPERM\",tier=\"alert-only\"} 1\n")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.printTable(&b); err != nil {
		t.Fatal(err)
	}
	if raw := testutil.TerminalControls(b.String()); raw != nil || !strings.Contains(b.String(), `/mnt/\x1b[2K\r: EPERM`) {
		t.Errorf("status holds %q raw:\n%s", raw, b.String())
	}
}

// serveMetrics serves metrics as an agent's /metrics on loopback.
func serveMetrics(t *testing.T, metrics string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, metrics) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestStatusOutputFormats(t *testing.T) {
	addr := serveMetrics(t, agentMetrics)
	want := statusReport{Agent: addr, Tiers: []tierReport{
		{"exec", "signal", `BPF LSM programs cannot load here: "x"`}, {"open", "alert-only", "no fanotify"},
	}, Sensor: []sensorReport{
		{"open", "fexit/do_sys_openat2", ""}, {"connect", "tp_btf/sys_exit", `load connect-fexit programs: "y"`},
	}, Counters: []counter{
		{"enforcement_actions_total", map[string]string{"action": "killed", "type": "exec"}, 3},
		{"sensor_events_delivered_total", map[string]string{"type": "open"}, 1515656},
		{"sensor_events_lost_total", map[string]string{"type": "open", "where": "queue"}, 12},
	}}
	for _, format := range []string{"json", "yaml"} {
		out, _, err := execute(t, "status", "--metrics-addr", addr, "-o", format)
		if err != nil {
			t.Fatalf("status -o %s: %v", format, err)
		}
		var got statusReport
		if format == "json" {
			err = json.Unmarshal([]byte(out), &got)
		} else {
			err = yaml.Unmarshal([]byte(out), &got)
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("status -o %s = %+v, %v; want %+v\n%s", format, got, err, want, out)
		}
		if strings.Contains(out, "e+06") {
			t.Errorf("status -o %s prints an exponent:\n%s", format, out)
		}
	}
	if _, _, err := execute(t, "status", "-o", "xml"); err == nil || !strings.Contains(err.Error(), "want table, json or yaml") {
		t.Errorf("status -o xml: %v", err)
	}
}
