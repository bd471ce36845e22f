package ship

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigil-dev/vigil/pkg/alert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	collectortest "github.com/vigil-dev/vigil/test/collector"
	vtestutil "github.com/vigil-dev/vigil/test/testutil"
)

// evil is a file name that is not valid UTF-8, as a workload can choose:
// cp /bin/busybox "/tmp/$(printf '\377\376')evil".
const evil = "/tmp/\xff\xfeevil"

// realCollector is a collector run in the test, with its mTLS setup.
type realCollector struct {
	addr, certs string
	consumer    vigilv1.ConsumerServiceClient
}

// startCollectorAt runs a real collector on addr until the test ends;
// certs holds a PKI with node node-a.
func startCollectorAt(t *testing.T, addr, certs string) *realCollector {
	t.Helper()
	collectortest.Start(t, addr, certs)
	return &realCollector{addr: addr, certs: certs, consumer: vtestutil.ConsumerClient(t, certs, addr)}
}

// testPKI writes certificates for the collector, node-a and admin.
func testPKI(t *testing.T) string {
	t.Helper()
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"localhost", "127.0.0.1"},
		Nodes: []string{"node-a"}, Consumers: []string{"admin"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return certs
}

// shipperTo is node-a's shipper to addr, with its metrics.
func shipperTo(t *testing.T, addr, certs string) (*Shipper, *prometheus.Registry) {
	t.Helper()
	cert, key := pki.ClientFiles("node-a")
	tlsConfig, err := pki.ClientTLSFiles(filepath.Join(certs, cert), filepath.Join(certs, key), filepath.Join(certs, pki.CAFile), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := New(Options{Dir: t.TempDir(), Target: addr, TLS: tlsConfig, Registerer: reg, Logger: zaptest.NewLogger(t),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s, reg
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond) // the collector allows a consumer 20 calls a second
	}
}

// stored lists the collector's alerts.
func (c *realCollector) stored(t *testing.T) []*vigilv1.Alert {
	t.Helper()
	r, err := c.consumer.ListAlerts(context.Background(), &vigilv1.ListAlertsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Alerts
}

// TestNonUTF8NameReachesTheCollector judges enriched execs of files whose
// names are not UTF-8 through the agent's deduplicator into the shipper
// and a real collector over gRPC: the collector stores each, with the name
// shown escaped, its exact bytes and the invalid_utf8 label; also for the
// longest name the sensor reports, whose escaped form is cut.
func TestNonUTF8NameReachesTheCollector(t *testing.T) {
	certs := testPKI(t)
	c := startCollectorAt(t, vtestutil.FreeAddr(t), certs)
	s, reg := shipperTo(t, c.addr, certs)
	d, err := alert.NewDeduper("node-a", time.Minute, func(a *vigilv1.Alert) {
		if err := s.Enqueue(a); err != nil {
			t.Errorf("enqueue: %v", err)
		}
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("\xff", 4094) // VIGIL_PATH_MAX with its NUL
	for _, path := range []string{evil, long} {
		ev := &sensor.Event{Type: sensor.TypeExec, Time: time.Now(), PID: 42, PPID: 1, Comm: "\xff\xfeevil",
			Exec: sensor.Exec{Path: path, Argv: []string{path, "-c", "id"}}}
		rec := &enrich.Record{Event: ev,
			Attribution: containers.Attribution{Kind: containers.InContainer, Container: &containers.Container{
				ID: "c1", Image: "busybox:1", ImageDigest: "sha256:aa", PodName: "web", PodNamespace: "shop"}},
			Process: process.Process{PID: 42, Path: "/bin/sh", Contained: true}}
		d.Report(rec, profile.Verdict{Mode: profile.ModeMonitor, Observation: profile.Observation{Kind: profile.KindExec, Path: path},
			Rule: "no rule matched in executables", Profile: &profile.Profile{}}, vigilv1.Action_ACTION_ALERTED)
	}

	dropped := func() float64 {
		return testutil.ToFloat64(s.m.dropped.WithLabelValues(dropInvalid)) + testutil.ToFloat64(s.m.dropped.WithLabelValues(dropRejected))
	}
	var got []*vigilv1.Alert
	waitUntil(t, "the alerts stored", func() bool { got = c.stored(t); return len(got) == 2 || dropped() > 0 })
	if len(got) != 2 {
		t.Fatalf("collector holds %d alerts, want the execs of both names (dropped as invalid or rejected: %v)", len(got), dropped())
	}
	for _, a := range got {
		raw := a.Object.GetRawPath()
		shown := `/tmp/\xff\xfeevil`
		if len(raw) > len(evil) {
			shown = "/" + strings.Repeat(`\xff`, (alert.MaxDisplayBytes-1-len("…"))/4) + "…"
		}
		if a.Object.GetPath() != shown || (!bytes.Equal(raw, []byte(evil)) && !bytes.Equal(raw, []byte(long))) ||
			!bytes.Equal(a.Process.GetRawPath(), raw) || !bytes.Equal(a.Process.GetRawArgv()[0], raw) ||
			!bytes.Equal(a.Process.GetRawComm(), []byte("\xff\xfeevil")) || a.Process.GetPath() != shown {
			t.Errorf("stored alert does not carry the name (%d raw bytes): path %q", len(raw), a.Object.GetPath())
		}
		if l := a.GetLabels()[alert.LabelInvalidUTF8]; l != "object.path,process.argv,process.comm,process.path" {
			t.Errorf("invalid_utf8 label %q", l)
		}
	}
}

// undecodableRecord is a spooled alert that does not decode: its object
// path is a string that is not UTF-8 (what another version could have
// spooled).
func undecodableRecord() []byte {
	obj := protowire.AppendTag(nil, 1, protowire.BytesType)
	obj = protowire.AppendString(obj, evil)
	rec := protowire.AppendTag(nil, 1, protowire.BytesType)
	rec = protowire.AppendString(rec, "undecodable")
	rec = protowire.AppendTag(rec, 8, protowire.BytesType)
	return protowire.AppendBytes(rec, obj)
}

// TestUndecodableRecordRefusedAlone spools two alerts around one that does
// not decode while the collector is down, so that one batch holds all
// three: once it is up, the two are stored and the third is dropped and
// counted, instead of failing every stream.
func TestUndecodableRecordRefusedAlone(t *testing.T) {
	certs := testPKI(t)
	addr := vtestutil.FreeAddr(t) // nothing listens yet
	s, _ := shipperTo(t, addr, certs)
	good := func(id string) []byte {
		p, err := marshalOpts.Marshal(&vigilv1.Alert{Id: id, Time: timestamppb.Now(), Kind: vigilv1.Kind_KIND_EXEC,
			Object: &vigilv1.Object{Path: "/bin/sh"}, Process: &vigilv1.Process{Path: "/bin/sh"}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, p := range [][]byte{good("before"), undecodableRecord(), good("after")} {
		s.queue <- p
	}
	waitUntil(t, "three spooled records", func() bool { return s.spool.pending() == 3 })

	c := startCollectorAt(t, addr, certs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitDelivered(ctx); err != nil {
		t.Fatalf("the batch holding an undecodable record was never delivered: %v", err)
	}
	var ids []string
	for _, a := range c.stored(t) {
		ids = append(ids, a.GetId())
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"after", "before"}) {
		t.Errorf("collector holds %v, want after and before", ids)
	}
	if n := testutil.ToFloat64(s.m.dropped.WithLabelValues(dropInvalid)); n != 1 {
		t.Errorf("dropped{invalid} = %v, want 1", n)
	}
}
