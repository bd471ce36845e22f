package cliflags

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

// TestAlertLinesAreNotSampled logs a burst of alert lines and of another
// line through the JSON logger the commands use (to a file standing in for
// stderr): every alert line is written, the other line is sampled and
// every line sampling dropped is counted.
func TestAlertLinesAreNotSampled(t *testing.T) {
	out, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var flags LogFlags
	flags.Level, flags.Format = "info", "json"
	stderr := os.Stderr
	os.Stderr = out
	log, err := flags.Logger()
	os.Stderr = stderr
	if err != nil {
		t.Fatal(err)
	}
	// Alerts are logged through a logger with fields, as the agent does.
	alerts := log.With(zap.String("kind", "exec"))
	const n = 1000
	for range n {
		alerts.Warn(AlertLogMessage)
		log.Info("other")
	}
	log.Sync()
	if _, err := out.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var l struct{ Msg string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines[l.Msg]++
	}
	if lines[AlertLogMessage] != n {
		t.Errorf("%d of %d alert lines logged", lines[AlertLogMessage], n)
	}
	// The first 100 in a second, then one in 100 (twice that if the burst
	// straddles a second).
	if want := sampleFirst + (n-sampleFirst)/sampleThereafter; lines["other"] < want || lines["other"] > 2*want {
		t.Errorf("%d of %d other lines logged, want about %d", lines["other"], n, want)
	}
	if d := testutil.ToFloat64(flags.Sampled().WithLabelValues("info")); int(d) != n-lines["other"] {
		t.Errorf("sampling dropped %d lines and counted %v", n-lines["other"], d)
	}
	if d := testutil.ToFloat64(flags.Sampled().WithLabelValues("warn")); d != 0 {
		t.Errorf("alert lines counted as sampled: %v", d)
	}
}
