package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/pkg/store"
)

// Log field keys, as the sink package's.
const (
	logKeySink    = "sink"
	logKeyAlertID = "alert_id"
)

// Follower delivers every stored alert to a sink, in the order they were
// stored, at least once. It reads the store after a cursor it keeps in the
// store, so a receiver that is down, or a collector that restarts, loses
// nothing: delivery waits, retrying with backoff, and resumes where it
// stopped. An alert is dropped (and counted in vigil_sink_dropped_total)
// only when the receiver rejects it for good (reason rejected), or when
// retention deleted it before it was delivered (reason pruned: exact on
// SQLite, at most that many on PostgreSQL, whose sequence skips numbers).
//
// The cursor is per sink name in the store: collector replicas sharing one
// PostgreSQL should run a durable sink on one replica only, or each
// delivers every alert.
type Follower struct {
	name   string
	sink   sink.Sink
	src    store.SinkStore
	log    *zap.Logger
	wake   chan struct{}
	o      Options
	cursor int64 // owned by Run

	sent    prometheus.Counter
	dropped *prometheus.CounterVec
	errs    prometheus.Counter
	backlog prometheus.Gauge
}

// Options tune a Follower.
type Options struct {
	// Batch is how many alerts are read at once; the cursor is saved after
	// each batch (default 256). A collector that dies mid-batch sends the
	// batch's delivered alerts again.
	Batch int
	// Poll is how often the store is read without being woken (default 1s):
	// the alerts other collector replicas store.
	Poll time.Duration
	// Retries back off from MinBackoff to MaxBackoff (default 100ms, 30s).
	MinBackoff, MaxBackoff time.Duration
}

// New returns a Follower of src for s, reading its cursor; Run runs
// it. A sink seen for the first time starts after the newest stored alert:
// turning a webhook on does not replay the store. Metrics carry the label
// sink=name, as a Queue's do.
func New(ctx context.Context, name string, s sink.Sink, src store.SinkStore, o Options, reg prometheus.Registerer, log *zap.Logger) (*Follower, error) {
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	labels := prometheus.Labels{"sink": name}
	f := &Follower{
		name: name, sink: s, src: src, log: log.With(zap.String(logKeySink, name)), wake: make(chan struct{}, 1), o: o,
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_sink_sent_total", Help: "Alerts a sink delivered.", ConstLabels: labels,
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_sink_dropped_total", Help: "Alerts a sink dropped: rejected by the receiver, or pruned by retention before delivery.", ConstLabels: labels,
		}, []string{"reason"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_sink_errors_total", Help: "Deliveries that failed and are retried (the receiver is down or failing).", ConstLabels: labels,
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_sink_backlog", Help: "Sequence numbers stored and not yet delivered: about the alerts a sink is behind.", ConstLabels: labels,
		}),
	}
	for _, reason := range []string{dropRejected, dropPruned} {
		f.dropped.WithLabelValues(reason)
	}
	for _, c := range []prometheus.Collector{f.sent, f.dropped, f.errs, f.backlog} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	cursor, ok, err := src.SinkCursor(ctx, name)
	if err == nil && !ok {
		_, cursor, err = src.AlertSeqRange(ctx)
		if err == nil {
			err = src.PutSinkCursor(ctx, name, cursor)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sink %s cursor: %w", name, err)
	}
	f.cursor = cursor
	return f, nil
}

// Reasons a Follower drops an alert.
const (
	dropRejected = "rejected"
	dropPruned   = "pruned"
)

// Notify wakes the follower: alerts were stored. It never blocks.
func (f *Follower) Notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends; store errors are logged and retried.
func (f *Follower) Run(ctx context.Context) {
	poll := time.NewTicker(f.o.Poll)
	defer poll.Stop()
	for {
		batch, err := f.next(ctx, f.cursor)
		if err == nil && len(batch) > 0 {
			f.cursor, err = f.deliver(ctx, f.cursor, batch)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			f.log.Error("sink follower", zap.Error(err))
		} else if len(batch) > 0 {
			continue // there may be more
		}
		select {
		case <-f.wake:
		case <-poll.C:
		case <-ctx.Done():
			return
		}
	}
}

// Close closes the sink; call it after Run returned.
func (f *Follower) Close() error { return f.sink.Close() }

// next reads the alerts after cursor, counting those retention deleted
// before they were delivered.
func (f *Follower) next(ctx context.Context, cursor int64) ([]store.SeqAlert, error) {
	first, last, err := f.src.AlertSeqRange(ctx)
	if err != nil {
		return nil, err
	}
	if last < cursor {
		// Every alert was deleted and SQLite numbers new ones from 1
		// again: all that are stored are new.
		cursor = 0
	}
	f.backlog.Set(float64(last - cursor))
	batch, err := f.src.AlertsAfter(ctx, cursor, f.o.Batch)
	if err != nil || len(batch) == 0 {
		return nil, err
	}
	// The oldest alert stored comes after the cursor: those between were
	// pruned before they were delivered.
	if batch[0].Seq == first && first > cursor+1 && cursor > 0 {
		lost := first - cursor - 1
		f.dropped.WithLabelValues(dropPruned).Add(float64(lost))
		f.log.Warn("alerts deleted by retention before the sink delivered them", zap.Int64("alerts", lost))
	}
	return batch, nil
}

// deliver sends a batch, each alert until it is delivered or rejected, and
// saves the cursor after it. It returns the new cursor.
func (f *Follower) deliver(ctx context.Context, cursor int64, batch []store.SeqAlert) (int64, error) {
	for _, sa := range batch {
		if err := f.deliverOne(ctx, sa); err != nil {
			// Stopping: save what was delivered.
			return cursor, errors.Join(err, f.src.PutSinkCursor(context.WithoutCancel(ctx), f.name, cursor))
		}
		cursor = sa.Seq
	}
	return cursor, f.src.PutSinkCursor(ctx, f.name, cursor)
}

// deliverOne writes one alert, retrying with backoff until it is written or
// rejected; it fails only when ctx ends.
func (f *Follower) deliverOne(ctx context.Context, sa store.SeqAlert) error {
	wait := f.o.MinBackoff
	for failures := 0; ; failures++ {
		err := f.sink.Write(ctx, sa.Alert)
		switch {
		case err == nil:
			f.sent.Inc()
			if failures > 0 {
				f.log.Info("sink delivers again", zap.Int("failed_attempts", failures))
			}
			return nil
		case errors.Is(err, sink.ErrRejected):
			f.dropped.WithLabelValues(dropRejected).Inc()
			f.log.Warn("sink rejected alert", zap.String(logKeyAlertID, sa.Alert.GetId()), zap.Error(err))
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		}
		f.errs.Inc()
		if failures == 0 {
			f.log.Warn("sink delivery failed; retrying until it works", zap.String(logKeyAlertID, sa.Alert.GetId()), zap.Error(err))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(wait*2, f.o.MaxBackoff)
	}
}
