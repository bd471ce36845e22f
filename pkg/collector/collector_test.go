package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/store"
	"github.com/vigil-dev/vigil/pkg/telemetry"
)

func TestStreamStoresOnceUnderCertificateNode(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 30*time.Second)
	stream, err := e.agent(t, "node-a").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq, b := range []*vigilv1.AlertBatch{batchOf(1, 0, 50), batchOf(2, 25, 50)} {
		if err := stream.Send(b); err != nil {
			t.Fatal(err)
		}
		ack, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ack.GetSeq() != uint64(seq+1) || len(ack.GetIds()) != 50 || len(ack.GetRejected()) != 0 {
			t.Fatalf("ack %d: seq %d, %d ids, %d rejected", seq+1, ack.GetSeq(), len(ack.GetIds()), len(ack.GetRejected()))
		}
	}
	stream.CloseSend()
	stored, _, err := e.store.QueryAlerts(ctx, store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 75 {
		t.Fatalf("stored %d alerts, want 75 (25 were sent twice)", len(stored))
	}
	for _, a := range stored {
		if a.GetNode() != "node-a" {
			t.Fatalf("alert stored under node %q, want the certificate's node-a", a.GetNode())
		}
	}
	if d := metric(t, e.reg, "vigil_collector_alerts_duplicate_total"); d != 25 {
		t.Errorf("duplicates = %v, want 25", d)
	}
}

func TestMalformedAlertsAreRejectedOneByOne(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 30*time.Second)
	stream, err := e.agent(t, "node-a").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	noID := testAlert("")
	longPath := testAlert("long-path")
	longPath.Process.Path = strings.Repeat("x", maxFieldBytes+1)
	noTime := testAlert("no-time")
	noTime.Time = nil
	badKind := testAlert("bad-kind")
	badKind.Kind = 99
	manyArgs := testAlert("many-args")
	manyArgs.Process.Argv = make([]string, maxArgs+1)
	good := testAlert("good")
	batch := &vigilv1.AlertBatch{Seq: 7, Alerts: []*vigilv1.Alert{noID, longPath, good, noTime, badKind, manyArgs}}
	if err := stream.Send(batch); err != nil {
		t.Fatal(err)
	}
	ack, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(ack.GetIds()) != 1 || ack.GetIds()[0] != "good" {
		t.Fatalf("acked %v, want only good", ack.GetIds())
	}
	wantIndex := []uint32{0, 1, 3, 4, 5}
	if len(ack.GetRejected()) != len(wantIndex) {
		t.Fatalf("rejected %v", ack.GetRejected())
	}
	for i, r := range ack.GetRejected() {
		if r.GetIndex() != wantIndex[i] || codes.Code(r.GetCode()) != codes.InvalidArgument || r.GetMessage() == "" {
			t.Errorf("rejection %d = %v", i, r)
		}
	}

	// A message over the size limit ends the stream with RESOURCE_EXHAUSTED;
	// the collector keeps serving.
	huge := testAlert("huge")
	huge.Detail = strings.Repeat("y", 5<<20)
	if err := stream.Send(&vigilv1.AlertBatch{Seq: 8, Alerts: []*vigilv1.Alert{huge}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized message: %v, want ResourceExhausted", err)
	}
	// A batch with too many alerts is refused as a whole.
	stream2, err := e.agent(t, "node-a").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream2.Send(batchOf(1, 0, 1001))
	if _, err := stream2.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("too large batch: %v, want InvalidArgument", err)
	}
	// Still serving.
	stream3, err := e.agent(t, "node-a").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream3.Send(batchOf(1, 0, 1))
	if ack, err := stream3.Recv(); err != nil || len(ack.GetIds()) != 1 {
		t.Fatalf("after malformed input: %v %v", ack, err)
	}
	if n := metric(t, e.reg, "vigil_collector_alerts_rejected_total", "reason", "invalid"); n != 5 {
		t.Errorf("rejected metric = %v, want 5", n)
	}
	// Oversized status reports.
	for _, st := range []*vigilv1.NodeStatus{{Kernel: strings.Repeat("k", maxFieldBytes+1)},
		{SensorHooks: []*vigilv1.SensorHook{{Kind: vigilv1.Kind_KIND_OPEN, Attach: "tp_btf/sys_exit", Reason: strings.Repeat("r", maxFieldBytes+1)}}},
		{SensorHooks: slices.Repeat([]*vigilv1.SensorHook{{Kind: vigilv1.Kind_KIND_OPEN}}, 17)}} {
		_, err = e.agent(t, "node-a").ReportStatus(ctx, st)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("oversized status: %v", err)
		}
	}
}

func TestStatusUsesCertificateNode(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 30*time.Second)
	_, err := e.agent(t, "node-b").ReportStatus(ctx, &vigilv1.NodeStatus{
		Node: "node-a", AgentVersion: "v0.1", Kernel: "6.18",
		Enforcement: []*vigilv1.HookEnforcement{{Hook: vigilv1.Kind_KIND_EXEC, Tier: vigilv1.Tier_TIER_SIGNAL}},
		Counters:    map[string]uint64{"ringbuf_lost": 2},
		Time:        timestamppb.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.consumer(t).ListNodes(ctx, &vigilv1.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetNodes()) != 1 || resp.GetNodes()[0].GetNode() != "node-b" || resp.GetNodes()[0].GetCounters()["ringbuf_lost"] != 2 {
		t.Fatalf("nodes = %v, want node-b (from its certificate)", resp.GetNodes())
	}
}

func TestWatchReplaysSinceThenLive(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 30*time.Second)
	agent, err := e.agent(t, "node-a").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(b *vigilv1.AlertBatch) {
		t.Helper()
		if err := agent.Send(b); err != nil {
			t.Fatal(err)
		}
		if _, err := agent.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	send(batchOf(1, 0, 3))
	watch, err := e.consumer(t).WatchAlerts(ctx, &vigilv1.WatchAlertsRequest{Filter: &vigilv1.AlertFilter{
		Since: timestamppb.New(t0.Add(-time.Hour)), Namespaces: []string{"shop"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for len(ids) < 3 {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.GetAlert().GetId())
	}
	other := testAlert("other-namespace")
	other.Container.Namespace = "kube-system"
	send(&vigilv1.AlertBatch{Seq: 2, Alerts: []*vigilv1.Alert{other, testAlert("live")}})
	ev, err := watch.Recv()
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, ev.GetAlert().GetId())
	if strings.Join(ids, ",") != "alert-000000,alert-000001,alert-000002,live" {
		t.Fatalf("watch saw %v", ids)
	}
}

func TestSlowSubscriberDoesNotStallIngest(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.SubscriberQueue = 16 })
	ctx := testCtx(t, 60*time.Second)
	// Subscribe and never read: gRPC flow control fills, then the queue.
	stuck, err := e.consumer(t).WatchAlerts(ctx, &vigilv1.WatchAlertsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stuck.Header(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return metric(t, e.reg, "vigil_collector_subscribers") == 1 })
	agent, err := e.agent(t, "node-a").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const batches, size = 40, 500 // 20 000 alerts, about 10 MB: more than flow control buffers
	for i := range batches {
		if err := agent.Send(batchOf(uint64(i), i*size, size)); err != nil {
			t.Fatal(err)
		}
		if _, err := agent.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if n := metric(t, e.reg, "vigil_collector_alerts_stored_total"); n != batches*size {
		t.Fatalf("stored %v, want %d", n, batches*size)
	}
	e.waitFed(t)
	dropped := metric(t, e.reg, "vigil_collector_subscriber_dropped_total")
	if dropped == 0 {
		t.Fatal("a subscriber that never reads dropped nothing")
	}
	// When it reads again it is told how many it missed.
	var got, missed uint64
	for got+missed < batches*size {
		ev, err := stuck.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetDropped() != nil {
			missed += ev.GetDropped().GetCount()
		} else {
			got++
		}
	}
	if missed != uint64(dropped) {
		t.Fatalf("subscriber was told of %d missed alerts, metric says %v", missed, dropped)
	}
}

// waitFor polls cond for up to a minute: a child collector built with the
// race detector took over 10 s to start and take a quarter of a stream on a
// loaded two-core CI machine. Success returns at once, so only a failing
// test pays the bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	e := startEnv(t, nil)
	srv := httptest.NewServer(telemetry.Handler(e.reg, nil, e.c.Ready, zap.NewNop()))
	defer srv.Close()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok", "/metrics": "vigil_collector_alerts_stored_total"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	e.c.Stop(testCtx(t, 5*time.Second))
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz after Stop: %d", resp.StatusCode)
	}
}
