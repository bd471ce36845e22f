package collector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/sink"
)

// FuzzAlertValidation feeds arbitrary encoded alerts to the collector's
// ingest checks: validation, then the fixing of times. Whatever it accepts
// must be storable (its time in int64 nanoseconds), listable as JSON
// (vigilctl -o json, the JSON-lines sink) and convertible for the webhook.
func FuzzAlertValidation(f *testing.F) {
	good := testAlert("a")
	bad := testAlert("b")
	bad.Time = &timestamppb.Timestamp{Seconds: 1e15}
	bad.FirstSeen = &timestamppb.Timestamp{Nanos: -1}
	bad.Ancestry = []*vigilv1.Process{{StartTime: &timestamppb.Timestamp{Seconds: -1e15}}}
	for _, a := range []*vigilv1.Alert{good, bad, {Id: "c", Kind: 99}} {
		b, err := proto.Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	c := &Collector{opts: Options{MaxClockSkew: 5 * time.Minute}, m: m}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := new(vigilv1.Alert)
		if proto.Unmarshal(data, a) != nil || validateAlert(a) != nil {
			return
		}
		c.fixTimes(a, time.Now())
		if ts := a.GetTime().AsTime(); !time.Unix(0, ts.UnixNano()).Equal(ts) {
			t.Fatalf("accepted time %v does not survive the store", ts)
		}
		if _, err := protojson.Marshal(a); err != nil {
			t.Fatalf("accepted alert does not encode as JSON: %v", err)
		}
		if _, err := json.Marshal(sink.ToFalco(a)); err != nil {
			t.Fatalf("accepted alert does not convert for the webhook: %v", err)
		}
	})
}

// FuzzConfigFile reads arbitrary collector configuration files as
// vigil-collector does. It must never panic, and an error must name the
// file.
func FuzzConfigFile(f *testing.F) {
	example, err := os.ReadFile("../../deploy/config/collector.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(example), "", "listen: [a, b]\n", "retention-age: -1h\n", "webhook-url: ftp://x\nmax-streams: 0\n",
		"store: {a: b}\n", "- x\n", "webhook-auth-header: \"Authorization\"\n", "calls-per-second: NaN\n"} {
		f.Add([]byte(seed))
	}
	// One file, rewritten: a fuzzing process runs its inputs one at a time.
	path := filepath.Join(f.TempDir(), "collector.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		o := NewFlags()
		fs := pflag.NewFlagSet("vigil-collector", pflag.ContinueOnError)
		o.Register(fs)
		if err := cliflags.LoadFile(fs, path); err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = o.Config.Validate()
	})
}
