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
// The cursor is per sink name in the store, so collector replicas sharing
// one PostgreSQL must run a sink on one replica at a time (the collector
// runs it while it leads), or each delivers every alert. Run reads the
// cursor when it starts: a replica that takes over resumes where the last
// one saved it.
type Follower struct {
	name string
	sink sink.Sink
	src  store.SinkStore
	log  *zap.Logger
	wake chan struct{}
	o    Options

	sent     prometheus.Counter
	dropped  *prometheus.CounterVec
	errs     prometheus.Counter
	backlog  prometheus.Gauge
	lag      prometheus.Gauge
	active   prometheus.Gauge
	caughtUp time.Time // owned by Run
}

// Options tune a Follower.
type Options struct {
	// Batch is how many alerts are read at once; the cursor is saved after
	// each batch (default 100). A collector that dies mid-batch has sent
	// up to Batch alerts whose delivery is not saved: the next to run the
	// sink sends them again. That is the duplication bound of a failover.
	Batch int
	// Poll is how often the store is read without being woken (default 1s):
	// the alerts other collector replicas store.
	Poll time.Duration
	// Retries back off from MinBackoff to MaxBackoff (default 100ms, 30s).
	MinBackoff, MaxBackoff time.Duration
}

// New returns a Follower of src for s; Run runs it. Metrics carry the
// label sink=name, as a Queue's do.
func New(name string, s sink.Sink, src store.SinkStore, o Options, reg prometheus.Registerer, log *zap.Logger) (*Follower, error) {
	if o.Batch <= 0 {
		o.Batch = 100
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
			Name: "vigil_sink_backlog", Help: "Sequence numbers stored and not yet delivered: about the alerts a sink is behind (0 where the sink does not run).", ConstLabels: labels,
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_sink_lag_seconds", Help: "How long a sink has been behind the store: 0 when it delivered every stored alert.", ConstLabels: labels,
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_sink_active", Help: "1 while this collector runs the sink (the leader of replicas sharing a store).", ConstLabels: labels,
		}),
	}
	for _, reason := range []string{dropRejected, dropPruned} {
		f.dropped.WithLabelValues(reason)
	}
	for _, c := range []prometheus.Collector{f.sent, f.dropped, f.errs, f.backlog, f.lag, f.active} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// start reads the cursor. A sink seen for the first time starts after the
// newest stored alert: turning a webhook on does not replay the store.
func (f *Follower) start(ctx context.Context) (int64, error) {
	cursor, ok, err := f.src.SinkCursor(ctx, f.name)
	if err == nil && !ok {
		_, cursor, err = f.src.AlertSeqRange(ctx)
		if err == nil {
			err = f.src.PutSinkCursor(ctx, f.name, cursor)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("sink %s cursor: %w", f.name, err)
	}
	return cursor, nil
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

// Run delivers until ctx ends, from the cursor saved in the store; store
// errors are logged and retried. Run it in one collector at a time.
func (f *Follower) Run(ctx context.Context) {
	f.active.Set(1)
	defer func() {
		f.active.Set(0)
		f.backlog.Set(0)
		f.lag.Set(0)
	}()
	poll := time.NewTicker(f.o.Poll)
	defer poll.Stop()
	f.caughtUp = time.Now()
	cursor, started := int64(0), false
	for {
		var batch []store.SeqAlert
		var err error
		if !started {
			cursor, err = f.start(ctx)
			started = err == nil
		}
		if started {
			batch, err = f.next(ctx, cursor)
		}
		if err == nil && len(batch) > 0 {
			cursor, err = f.deliver(ctx, cursor, batch)
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
	if now := time.Now(); last == cursor {
		f.caughtUp = now
		f.lag.Set(0)
	} else {
		f.lag.Set(now.Sub(f.caughtUp).Seconds())
	}
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
// saves the cursor after it. It returns the new cursor. The cursor is saved
// even when ctx has ended: a stop that lands between the batch's last write
// and the save would otherwise have the next leader send the batch again.
func (f *Follower) deliver(ctx context.Context, cursor int64, batch []store.SeqAlert) (int64, error) {
	save := context.WithoutCancel(ctx)
	for _, sa := range batch {
		if err := f.deliverOne(ctx, sa); err != nil {
			return cursor, errors.Join(err, f.src.PutSinkCursor(save, f.name, cursor))
		}
		cursor = sa.Seq
	}
	return cursor, f.src.PutSinkCursor(save, f.name, cursor)
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
