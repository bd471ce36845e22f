package alert

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// maxGroups bounds the windows open at once; past it, alerts go out
// undeduplicated (and counted) rather than being held or dropped.
const maxGroups = 16384

// Emit receives finished alerts: it must not block for long.
type Emit func(*vigilv1.Alert)

// Deduper reports violations. The first occurrence of a behaviour — same
// image digest, kind, object, process path and action — goes out at once
// with count 1; repeats within the window are counted, and when the window
// closes one summary alert carries the total. Safe for concurrent use.
type Deduper struct {
	node     string
	instance [16]byte // this agent run: ids from a restarted agent never collide
	window   time.Duration
	emit     Emit
	m        *metrics

	mu     sync.Mutex
	groups map[groupKey]*group
}

type groupKey struct {
	digest  string
	kind    vigilv1.Kind
	object  string
	process string
	action  vigilv1.Action
}

type group struct {
	start time.Time
	count uint64
	last  *vigilv1.Alert
}

// NewDeduper returns a Deduper for this node with the given window.
func NewDeduper(node string, window time.Duration, emit Emit, reg prometheus.Registerer) (*Deduper, error) {
	if window <= 0 {
		return nil, fmt.Errorf("dedup window must be positive, got %v", window)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	d := &Deduper{node: node, window: window, emit: emit, m: m, groups: map[groupKey]*group{}}
	if _, err := rand.Read(d.instance[:]); err != nil {
		return nil, fmt.Errorf("alert id seed: %w", err)
	}
	return d, nil
}

// Report handles one violation and the action taken on it.
func (d *Deduper) Report(rec *enrich.Record, v profile.Verdict, action vigilv1.Action) {
	a := build(d.node, rec, v, action)
	k := groupKey{digest: a.Container.ImageDigest, kind: a.Kind, object: objectKey(a.Object), process: processKey(a.Process), action: action}
	now := rec.Event.Time

	d.mu.Lock()
	g := d.groups[k]
	// Either side of the window's start: at an agent restart the previous
	// agent's backlog arrives after this agent's first records, older.
	if g != nil && now.Sub(g.start).Abs() < d.window {
		g.count++
		g.last = a
		d.mu.Unlock()
		d.m.repeats.Inc()
		return
	}
	var summary *vigilv1.Alert
	if g != nil {
		summary = d.summarize(k, g)
		delete(d.groups, k)
	}
	grouped := len(d.groups) < maxGroups
	if grouped {
		d.groups[k] = &group{start: now, count: 1, last: a}
	}
	d.mu.Unlock()

	if summary != nil {
		d.send(summary)
	}
	if !grouped {
		d.m.ungrouped.Inc()
	}
	a.Id = d.id(k, now, "first")
	a.Count = 1
	a.FirstSeen, a.LastSeen = a.Time, a.Time
	d.send(a)
}

// Flush closes the windows that ended before now, sending their summaries.
func (d *Deduper) Flush(now time.Time) {
	d.closeWindows(func(g *group) bool { return now.Sub(g.start) >= d.window })
}

// Close sends the summaries of every open window.
func (d *Deduper) Close() {
	d.closeWindows(func(*group) bool { return true })
}

func (d *Deduper) closeWindows(done func(*group) bool) {
	var out []*vigilv1.Alert
	d.mu.Lock()
	for k, g := range d.groups {
		if !done(g) {
			continue
		}
		if s := d.summarize(k, g); s != nil {
			out = append(out, s)
		}
		delete(d.groups, k)
	}
	d.mu.Unlock()
	for _, a := range out {
		d.send(a)
	}
}

// summarize is the alert closing a window with repeats; nil without any.
func (d *Deduper) summarize(k groupKey, g *group) *vigilv1.Alert {
	if g.count < 2 {
		return nil
	}
	s := proto.CloneOf(g.last)
	s.Id = d.id(k, g.start, "summary")
	s.Count = g.count
	s.FirstSeen, s.LastSeen = timestamppb.New(g.start), g.last.Time
	s.Labels["dedup"] = "summary"
	s.Detail = fmt.Sprintf("%s (%d times in %s)", s.Detail, g.count, d.window)
	return s
}

func (d *Deduper) send(a *vigilv1.Alert) {
	d.m.alerts.WithLabelValues(a.Kind.ShortName(), a.Action.ShortName(), a.GetContainer().GetNamespace()).Inc()
	d.emit(a)
}

// id is stable for one window of one behaviour of one agent run, so a
// redelivered alert keeps it and the collector stores it once.
func (d *Deduper) id(k groupKey, start time.Time, part string) string {
	h := sha256.New()
	h.Write(d.instance[:])
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(start.UnixNano()))
	h.Write(n[:])
	for _, s := range []string{d.node, k.digest, k.kind.String(), k.object, k.process, k.action.String(), part} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
