package collector

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-dev/vigil/pkg/pki"
)

// Limits bound what one identity (a client certificate's name and role) may
// take of the collector, so that one node's certificate — stolen, or an
// agent gone wrong — cannot exhaust it for the others; and what all of them
// may take together, past which the collector reports not ready. What is
// refused is counted in vigil_collector_calls_refused_total{reason}.
type Limits struct {
	// Streams caps the streams open at once, all identities together: the
	// collector's capacity (default 4096: two per agent, alerts and
	// profiles, and room for consumers). At the cap new streams are refused
	// with UNAVAILABLE and /readyz fails until they are below 90% of it.
	Streams int
	// StreamsPerIdentity caps one identity's open streams (default 16; an
	// agent holds two). More are refused with RESOURCE_EXHAUSTED.
	StreamsPerIdentity int
	// ConnectionsPerIdentity caps one identity's connections (default 16; an
	// agent holds one). A connection past it is closed after the handshake.
	ConnectionsPerIdentity int
	// CallsPerSecond is one identity's sustained rate of calls, unary calls
	// and stream opens alike (default 20), with bursts of ten seconds'
	// worth. Calls past it are refused with RESOURCE_EXHAUSTED.
	CallsPerSecond float64
	// AlertsPerSecond is one identity's sustained rate of alerts (default
	// 2000), with bursts of ten seconds' worth. Past it the collector waits
	// before taking the next batch: the agent's spool holds the alerts,
	// nothing is lost, and one node cannot push the others' alerts out of a
	// store that retention bounds by size.
	AlertsPerSecond float64
}

func (l *Limits) setDefaults() {
	for _, d := range []struct {
		v   *int
		def int
	}{{&l.Streams, 4096}, {&l.StreamsPerIdentity, 16}, {&l.ConnectionsPerIdentity, 16}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if l.CallsPerSecond <= 0 {
		l.CallsPerSecond = 20
	}
	if l.AlertsPerSecond <= 0 {
		l.AlertsPerSecond = 2000
	}
}

// Reasons a call is refused (vigil_collector_calls_refused_total{reason}).
const (
	refusedCapacity    = "capacity"
	refusedStreams     = "streams"
	refusedConnections = "connections"
	refusedRate        = "rate"
	refusedAnonymous   = "anonymous_connections"
)

// burstSeconds: a rate allows bursts of this many seconds' worth.
const burstSeconds = 10

// limiter enforces Limits. Identities are kept once seen: there are as
// many as the CA issued certificates, not as many as calls.
type limiter struct {
	l         Limits
	alertsMax float64 // alert burst, at least one batch
	refused   *prometheus.CounterVec
	throttled prometheus.Counter

	mu         sync.Mutex
	ids        map[pki.Identity]*usage
	streams    int
	overloaded bool
	// Connections without a client certificate (joining agents): open,
	// and the cap and age set from Options.
	anon        int
	anonMax     int
	anonAge     time.Duration
	streamGauge prometheus.Gauge
}

type usage struct {
	streams, conns int
	calls, alerts  bucket
}

func newLimiter(l Limits, maxBatch int, m *metrics) *limiter {
	l.setDefaults()
	return &limiter{
		l: l, alertsMax: max(l.AlertsPerSecond*burstSeconds, float64(maxBatch)),
		refused: m.refused, throttled: m.throttled, streamGauge: m.streams,
		ids: make(map[pki.Identity]*usage),
	}
}

func (lm *limiter) usage(id pki.Identity) *usage {
	u := lm.ids[id]
	if u == nil {
		now := time.Now()
		u = &usage{calls: fullBucket(lm.l.CallsPerSecond*burstSeconds, now), alerts: fullBucket(lm.alertsMax, now)}
		lm.ids[id] = u
	}
	return u
}

func (lm *limiter) refuse(reason string, code codes.Code, format string, args ...any) error {
	lm.refused.WithLabelValues(reason).Inc()
	return status.Errorf(code, format, args...)
}

// call takes one call from id's rate.
func (lm *limiter) call(id pki.Identity) error {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	u := lm.usage(id)
	if !u.calls.take(time.Now(), lm.l.CallsPerSecond, lm.l.CallsPerSecond*burstSeconds, 1) {
		return lm.refuse(refusedRate, codes.ResourceExhausted, "%s %s: more than %g calls a second", id.Role, id.Name, lm.l.CallsPerSecond)
	}
	return nil
}

// openStream counts a stream of id; release it with closeStream.
func (lm *limiter) openStream(id pki.Identity) error {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if lm.streams >= lm.l.Streams {
		lm.overloaded = true
		return lm.refuse(refusedCapacity, codes.Unavailable, "collector at capacity: %d streams open", lm.streams)
	}
	u := lm.usage(id)
	if u.streams >= lm.l.StreamsPerIdentity {
		return lm.refuse(refusedStreams, codes.ResourceExhausted, "%s %s already has %d streams open", id.Role, id.Name, u.streams)
	}
	u.streams++
	lm.streams++
	lm.overloaded = lm.overloaded || lm.streams >= lm.l.Streams
	lm.streamGauge.Set(float64(lm.streams))
	return nil
}

func (lm *limiter) closeStream(id pki.Identity) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	lm.ids[id].streams--
	lm.streams--
	// Ready again below 90% of the cap, so readiness does not flap with
	// every stream at the edge.
	lm.overloaded = lm.overloaded && lm.streams*10 >= lm.l.Streams*9
	lm.streamGauge.Set(float64(lm.streams))
}

// openConn counts a connection of id; release it with closeConn.
func (lm *limiter) openConn(id pki.Identity) error {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	u := lm.usage(id)
	if u.conns >= lm.l.ConnectionsPerIdentity {
		return lm.refuse(refusedConnections, codes.ResourceExhausted, "%s %s already has %d connections", id.Role, id.Name, u.conns)
	}
	u.conns++
	return nil
}

// openAnonymous counts a connection without a certificate; release it with
// closeAnonymous.
func (lm *limiter) openAnonymous() error {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if lm.anon >= lm.anonMax {
		return lm.refuse(refusedAnonymous, codes.ResourceExhausted, "%d connections without a client certificate already", lm.anon)
	}
	lm.anon++
	return nil
}

func (lm *limiter) closeAnonymous() {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	lm.anon--
}

func (lm *limiter) closeConn(id pki.Identity) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	lm.ids[id].conns--
}

// alerts takes n alerts from id's rate, waiting (until ctx ends) when the
// identity is past it.
func (lm *limiter) alerts(ctx context.Context, id pki.Identity, n int) error {
	lm.mu.Lock()
	u := lm.usage(id)
	wait := u.alerts.reserve(time.Now(), lm.l.AlertsPerSecond, lm.alertsMax, float64(n))
	lm.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	lm.throttled.Add(float64(n))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ready fails while the collector is at its capacity.
func (lm *limiter) ready() error {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if lm.overloaded {
		return fmt.Errorf("overloaded: %d streams open, capacity %d", lm.streams, lm.l.Streams)
	}
	return nil
}

// bucket is a token bucket: tokens refill at a rate up to a maximum.
type bucket struct {
	tokens float64
	at     time.Time
}

func fullBucket(size float64, now time.Time) bucket { return bucket{tokens: size, at: now} }

func (b *bucket) refill(now time.Time, rate, size float64) {
	b.tokens = min(size, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
}

// take removes n tokens if there are that many.
func (b *bucket) take(now time.Time, rate, size, n float64) bool {
	b.refill(now, rate, size)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// reserve removes n tokens, going into debt, and says how long until the
// debt is paid.
func (b *bucket) reserve(now time.Time, rate, size, n float64) time.Duration {
	b.refill(now, rate, size)
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}
