package enrich

import (
	"os"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// TestEnrichReusesTheRecordsAncestry enriches event after event into one
// record, as trace does: the ancestry is right and costs no allocation.
func TestEnrichReusesTheRecordsAncestry(t *testing.T) {
	tab := process.NewTable(1<<16, time.Second, 0)
	if err := tab.Seed("/proc", ""); err != nil {
		t.Fatal(err)
	}
	e := NewEnricher(tab, nil)
	ev := &sensor.Event{Type: sensor.TypeOpen, PID: uint32(os.Getpid()), PPID: uint32(os.Getppid())}
	var rec Record
	e.Enrich(t.Context(), ev, &rec)
	if len(rec.Ancestry) == 0 || rec.Ancestry[0].PID != ev.PPID {
		t.Fatalf("ancestry = %+v, want it to start at the parent %d", rec.Ancestry, ev.PPID)
	}
	if allocs := testing.AllocsPerRun(100, func() { e.Enrich(t.Context(), ev, &rec) }); allocs != 0 {
		t.Errorf("enriching into a used record allocates %v times", allocs)
	}
}

func BenchmarkEnrich(b *testing.B) {
	tab := process.NewTable(1<<16, time.Second, 0)
	if err := tab.Seed("/proc", ""); err != nil {
		b.Fatal(err)
	}
	e := NewEnricher(tab, nil)
	ev := &sensor.Event{Type: sensor.TypeOpen, Time: time.Now(), Comm: "nginx", CgroupID: 9876}
	ev.PID, ev.PPID = uint32(os.Getpid()), uint32(os.Getppid()) // seeded with its ancestry up to pid 1
	var rec Record
	b.ReportAllocs()
	for b.Loop() {
		e.Observe(ev)
		e.Enrich(b.Context(), ev, &rec)
	}
	b.ReportMetric(float64(len(rec.Ancestry)), "ancestors")
}
