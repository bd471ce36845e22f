package containers

import (
	"slices"
	"testing"
	"time"

	ctrdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// BenchmarkCreateToKnown measures how long after a container's task is
// created the resolver knows it, through the /tasks/create event (no
// on-demand lookup): from containerd's event timestamp, and from the moment
// the client's NewTask returned (the earliest its entrypoint can start;
// negative when the resolver was first). Run it with a fixed count:
//
//	VIGIL_ROOT_TESTS=1 go test -run '^$' -bench CreateToKnown -benchtime 30x ./pkg/containers/
func BenchmarkCreateToKnown(b *testing.B) {
	testutil.RequireRoot(b)
	d, bb, _ := imported(b)
	rr := startResolver(b, d.Address)
	waitConnected(b, rr)
	var fromEvent, fromReturn []time.Duration
	for b.Loop() {
		ctr := d.Create(b, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
		returned := time.Now()
		c := known(b, rr, cgroupIDOf(b, rr, containerPath(ctr)))
		fromEvent = append(fromEvent, c.KnownAt.Sub(c.CreatedAt))
		fromReturn = append(fromReturn, c.KnownAt.Sub(returned))
	}
	report(b, "event", fromEvent)
	report(b, "create-returned", fromReturn)
}

func report(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), "ms-p50-after-"+name)
	b.ReportMetric(ms(ds[len(ds)-1]), "ms-max-after-"+name)
}

// BenchmarkLookupKnown is the hot path: a kernel event from a container the
// resolver knows.
func BenchmarkLookupKnown(b *testing.B) {
	rr := newTestResolver(b, "/nonexistent/containerd.sock")
	for i := range uint64(1000) {
		rr.tbl.add(ctr("k8s.io", ctrdtest.RandomID(), 1000+i, "sha256:x"))
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var i uint64
		for pb.Next() {
			if a := rr.Lookup(ctx, 1000+i%1000); a.Kind != InContainer {
				b.Fatalf("lookup %d: %v", 1000+i%1000, a.Kind)
			}
			i++
		}
	})
}
