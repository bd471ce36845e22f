package enrich

import (
	"context"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Attributor maps the cgroup id of an event to its container;
// *containers.Resolver is the real one.
type Attributor interface {
	Lookup(ctx context.Context, cgroupID uint64) containers.Attribution
}

// hostOnly attributes everything to the host, for nodes without containerd.
type hostOnly struct{}

func (hostOnly) Lookup(context.Context, uint64) containers.Attribution {
	return containers.Attribution{Kind: containers.Host}
}

// Enricher turns sensor events into Records: the process's ancestry from the
// process table and its container from the attributor.
type Enricher struct {
	procs      *process.Table
	containers Attributor
}

// NewEnricher returns an Enricher; a nil attributor attributes every event
// to the host.
func NewEnricher(procs *process.Table, attributor Attributor) *Enricher {
	if attributor == nil {
		attributor = hostOnly{}
	}
	return &Enricher{procs: procs, containers: attributor}
}

// Observe feeds the process table. Call it for every event, also those not
// enriched, so that the table stays complete.
func (e *Enricher) Observe(ev *sensor.Event) { e.procs.Observe(ev) }

// Enrich fills rec: ev attributed, with its process and ancestry. The
// ancestry reuses rec's: a caller that writes each record out before the
// next enriches them all without allocating.
func (e *Enricher) Enrich(ctx context.Context, ev *sensor.Event, rec *Record) {
	ancestry := rec.Ancestry
	*rec = e.Attribute(ctx, ev)
	rec.Ancestry = ancestry
	e.Complete(ctx, rec)
}

// Attribute finds ev's container (or the host) and its process: all the
// policy needs to decide, and cheap.
func (e *Enricher) Attribute(ctx context.Context, ev *sensor.Event) Record {
	rec := Record{Event: ev, Attribution: e.containers.Lookup(ctx, ev.CgroupID)}
	if p, ok := e.procs.Get(ev.PID); ok {
		rec.Process = p
	} else {
		// Not in the table (full, say): the event still says whether
		// its process runs a container's workload.
		rec.Process = process.Process{PID: ev.PID, PPID: ev.PPID, Comm: ev.Comm, CgroupID: ev.CgroupID,
			Contained: ev.Flags.Has(sensor.FlagWorkload)}
	}
	return rec
}

// Complete sets the process's ancestry, in the room rec.Ancestry has: for a
// process in a container, up to the container's init; on the host, up to
// pid 1.
func (e *Enricher) Complete(ctx context.Context, rec *Record) {
	ev := rec.Event
	var within func(process.Process) bool
	if c := rec.Attribution.Container; c != nil {
		within = func(p process.Process) bool {
			return p.CgroupID == ev.CgroupID || e.containers.Lookup(ctx, p.CgroupID).Container == c
		}
	}
	rec.Ancestry = e.procs.AppendAncestry(rec.Ancestry[:0], ev.PID, within)
}
