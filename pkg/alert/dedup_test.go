package alert

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func violation(at time.Duration, path string) (*enrich.Record, profile.Verdict) {
	ev := &sensor.Event{Type: sensor.TypeExec, Time: t0.Add(at), PID: 42, PPID: 1, Comm: "sh", UID: 0}
	ev.Exec = sensor.Exec{Path: path, Argv: []string{path, "-x"}}
	rec := &enrich.Record{Event: ev,
		Attribution: containers.Attribution{Kind: containers.InContainer, Container: &containers.Container{
			ID: "c1", Image: "nginx:1", ImageDigest: "sha256:aa", PodName: "web", PodNamespace: "shop"}},
		Process:  process.Process{PID: 42, Path: "/bin/sh", Contained: true},
		Ancestry: []process.Process{{PID: 1, Comm: "init", Path: "/init"}}}
	v := profile.Verdict{Mode: profile.ModeMonitor, Observation: profile.Observation{Kind: profile.KindExec, Path: path},
		Rule: "no rule matched in executables", Profile: &profile.Profile{Metadata: profile.Metadata{Version: 3}}}
	return rec, v
}

func report(d *Deduper, at time.Duration, path string) {
	rec, v := violation(at, path)
	d.Report(rec, v, vigilv1.Action_ACTION_ALERTED)
}

func newTestDeduper(t *testing.T) (*Deduper, *[]*vigilv1.Alert) {
	t.Helper()
	var sent []*vigilv1.Alert
	d, err := NewDeduper("node-1", time.Minute, func(a *vigilv1.Alert) { sent = append(sent, a) }, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return d, &sent
}

func TestFirstAtOnceRepeatsSummarized(t *testing.T) {
	d, sent := newTestDeduper(t)
	for i := range 5 {
		report(d, time.Duration(i)*time.Second, "/usr/bin/curl")
	}
	if len(*sent) != 1 {
		t.Fatalf("%d alerts after five repeats in one window, want the first only", len(*sent))
	}
	first := (*sent)[0]
	if first.Count != 1 || first.Id == "" || first.Node != "node-1" || first.Kind != vigilv1.Kind_KIND_EXEC ||
		first.Object.Path != "/usr/bin/curl" || first.Process.Path != "/usr/bin/curl" || first.ProfileVersion != 3 ||
		first.Container.ImageDigest != "sha256:aa" || first.Container.Pod != "web" || len(first.Ancestry) != 1 ||
		first.Action != vigilv1.Action_ACTION_ALERTED || first.Rule == "" {
		t.Errorf("first alert = %v", first)
	}

	d.Flush(t0.Add(30 * time.Second))
	if len(*sent) != 1 {
		t.Fatal("a window was closed before it ended")
	}
	d.Flush(t0.Add(61 * time.Second))
	if len(*sent) != 2 {
		t.Fatalf("%d alerts after the window closed, want the summary", len(*sent))
	}
	sum := (*sent)[1]
	if sum.Count != 5 || sum.Id == first.Id || sum.Labels["dedup"] != "summary" ||
		!sum.FirstSeen.AsTime().Equal(t0) || !sum.LastSeen.AsTime().Equal(t0.Add(4*time.Second)) {
		t.Errorf("summary = count %d id %s labels %v first %v last %v", sum.Count, sum.Id, sum.Labels, sum.FirstSeen.AsTime(), sum.LastSeen.AsTime())
	}
}

func TestDistinctBehaviourIsNotMerged(t *testing.T) {
	d, sent := newTestDeduper(t)
	report(d, 0, "/usr/bin/curl")
	report(d, time.Second, "/usr/bin/wget")
	report(d, 2*time.Minute, "/usr/bin/curl") // a new window
	d.Close()
	if len(*sent) != 3 {
		t.Fatalf("%d alerts, want curl, wget and curl in a new window (no summaries: no repeats)", len(*sent))
	}
	ids := map[string]bool{}
	for _, a := range *sent {
		ids[a.Id] = true
	}
	if len(ids) != 3 {
		t.Errorf("alert ids are not unique: %v", ids)
	}
}

// TestOlderRecordOutsideWindowIsNotMerged reports a behaviour, then the
// same from a record older by more than the window, as a restarted agent
// does when the previous agent's backlog arrives after its own records:
// it opens its own window, it is no repeat.
func TestOlderRecordOutsideWindowIsNotMerged(t *testing.T) {
	d, sent := newTestDeduper(t)
	report(d, 2*time.Minute, "/usr/bin/curl")
	report(d, 0, "/usr/bin/curl")
	report(d, 30*time.Second, "/usr/bin/curl") // the first window's repeat
	d.Close()
	var counts []uint64
	for _, a := range *sent {
		counts = append(counts, a.Count)
	}
	if len(counts) != 3 || counts[0] != 1 || counts[1] != 1 || counts[2] != 2 {
		t.Errorf("alert counts %v, want a first alert of each window and the second's summary of 2", counts)
	}
}

func TestIDsDifferAcrossAgentRuns(t *testing.T) {
	a, sentA := newTestDeduper(t)
	b, sentB := newTestDeduper(t)
	report(a, 0, "/x")
	report(b, 0, "/x")
	if (*sentA)[0].Id == (*sentB)[0].Id {
		t.Error("two agent runs gave the same alert the same id: the collector would drop one")
	}
}

func TestAlertsCountedByPodNamespace(t *testing.T) {
	reg := prometheus.NewRegistry()
	d, err := NewDeduper("node-1", time.Minute, func(*vigilv1.Alert) {}, reg)
	if err != nil {
		t.Fatal(err)
	}
	report(d, 0, "/usr/bin/curl")
	report(d, time.Second, "/usr/bin/wget")
	other, v := violation(2*time.Second, "/usr/bin/nc")
	c := *other.Attribution.Container
	c.ID, c.PodNamespace = "c2", "billing"
	other.Attribution.Container = &c
	d.Report(other, v, vigilv1.Action_ACTION_BLOCKED)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "vigil_alerts_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["kind"]+"/"+labels["action"]+"/"+labels["pod_namespace"]] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"exec/alerted/shop": 2, "exec/blocked/billing": 1}
	if len(got) != len(want) || got["exec/alerted/shop"] != 2 || got["exec/blocked/billing"] != 1 {
		t.Errorf("vigil_alerts_total by kind/action/pod_namespace = %v, want %v", got, want)
	}
}
