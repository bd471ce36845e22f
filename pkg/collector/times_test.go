package collector

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/sink"
)

// TestAlertTimesAreValidatedAtIngest sends alerts whose times the store or
// JSON cannot hold, or that an agent's clock put in the future, over a real
// stream: each is kept, with a time the collector can stand behind and the
// agent's own time in a label, and every stored alert still lists as JSON
// (vigilctl -o json) and converts for the webhook.
func TestAlertTimesAreValidatedAtIngest(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 30*time.Second)
	at := func(id string, ts *timestamppb.Timestamp) *vigilv1.Alert {
		a := testAlert(id)
		a.Time = ts
		return a
	}
	future := time.Now().Add(3 * time.Hour)
	badFirstSeen := testAlert("bad-first-seen")
	badFirstSeen.FirstSeen = &timestamppb.Timestamp{Seconds: -1e15}
	badFirstSeen.Process.StartTime = &timestamppb.Timestamp{Seconds: 1, Nanos: -5}
	batch := &vigilv1.AlertBatch{Seq: 1, Alerts: []*vigilv1.Alert{
		at("far-future", &timestamppb.Timestamp{Seconds: 1e15}),
		at("far-past", &timestamppb.Timestamp{Seconds: -1e15}),
		at("bad-nanos", &timestamppb.Timestamp{Seconds: t0.Unix(), Nanos: 2e9}),
		at("year-3000", timestamppb.New(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))),
		at("clock-ahead", timestamppb.New(future)),
		at("delivered-late", timestamppb.New(t0)),
		badFirstSeen,
	}}
	stream, err := e.agent(t, "node-a").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := stream.Send(batch); err != nil {
		t.Fatal(err)
	}
	ack, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if len(ack.GetIds()) != len(batch.GetAlerts()) || len(ack.GetRejected()) != 0 {
		t.Fatalf("acked %v, rejected %v: an alert must not be lost for its clock", ack.GetIds(), ack.GetRejected())
	}

	list, err := e.consumer(t).ListAlerts(ctx, &vigilv1.ListAlertsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*vigilv1.Alert{}
	for _, a := range list.GetAlerts() {
		if _, err := protojson.Marshal(a); err != nil {
			t.Errorf("alert %s does not list as JSON: %v", a.GetId(), err)
		}
		if _, err := json.Marshal(sink.ToFalco(a)); err != nil {
			t.Errorf("alert %s does not convert for the webhook: %v", a.GetId(), err)
		}
		got[a.GetId()] = a
	}
	received := func(a *vigilv1.Alert) bool {
		ts := a.GetTime().AsTime()
		return !ts.Before(before.Truncate(time.Microsecond)) && !ts.After(after)
	}
	for _, id := range []string{"far-future", "far-past", "bad-nanos", "year-3000"} {
		a := got[id]
		if !received(a) || a.GetLabels()["time_replaced"] != "unrepresentable" || a.GetLabels()["agent_time"] == "" {
			t.Errorf("%s: time %v labels %v, want the receive time and the agent's time in a label", id, a.GetTime().AsTime(), a.GetLabels())
		}
	}
	ahead := got["clock-ahead"]
	if !received(ahead) || ahead.GetLabels()["agent_time"] != future.UTC().Format(time.RFC3339Nano) ||
		ahead.GetLabels()["time_replaced"] == "" {
		t.Errorf("clock-ahead: time %v labels %v, want the receive time, flagged", ahead.GetTime().AsTime(), ahead.GetLabels())
	}
	// Delivered late (a spool after an outage) is not skew: the agent's time stays.
	if late := got["delivered-late"]; !late.GetTime().AsTime().Equal(t0) || len(late.GetLabels()) != 0 {
		t.Errorf("delivered-late: time %v labels %v, want the agent's time unchanged", late.GetTime().AsTime(), late.GetLabels())
	}
	bad := got["bad-first-seen"]
	if bad.GetFirstSeen() != nil || bad.GetProcess().GetStartTime() != nil || !bad.GetTime().AsTime().Equal(t0) ||
		bad.GetLabels()["invalid_times"] != "first_seen,process.start_time" {
		t.Errorf("bad-first-seen: first_seen %v start_time %v labels %v", bad.GetFirstSeen(), bad.GetProcess().GetStartTime(), bad.GetLabels())
	}
	if n := metric(t, e.reg, "vigil_collector_alert_times_replaced_total", "reason", "unrepresentable"); n != 4 {
		t.Errorf("unrepresentable times counted %v, want 4", n)
	}
	if n := metric(t, e.reg, "vigil_collector_alert_times_replaced_total", "reason", "clock_skew"); n != 1 {
		t.Errorf("clock skew counted %v, want 1", n)
	}

	// Queries with an unrepresentable bound are refused, not misread.
	_, err = e.consumer(t).ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: &vigilv1.AlertFilter{Since: &timestamppb.Timestamp{Seconds: 1e15}}})
	if err == nil {
		t.Error("a query since the year 31 million was answered")
	}
}
