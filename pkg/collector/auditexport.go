package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/audit"
	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/pkg/store"
)

// AuditSink receives audit records one at a time, in chain order.
type AuditSink interface {
	Write(ctx context.Context, r *vigilv1.AuditRecord) error
	Close() error
}

// auditStore is what an AuditExporter reads and where it keeps its cursor.
type auditStore interface {
	store.AuditStore
	store.SinkStore
}

// AuditExporter delivers the whole audit trail to a sink, in chain order,
// at least once: like a sink.Follower of alerts, it keeps a cursor in the
// store (named "audit-" and its name) and waits, retrying, while the sink
// fails. A new exporter starts at the first record. A record is skipped
// only when the receiver rejects it for good (counted in
// vigil_audit_export_rejected_total). Collector replicas sharing a store
// run it on the leader only, which reads the cursor when it starts; one
// that dies mid-batch leaves up to auditBatch records to send again.
type AuditExporter struct {
	name string
	out  AuditSink
	st   auditStore
	log  *zap.Logger
	wake chan struct{}

	sent, errs, rejected prometheus.Counter
	lag, active          prometheus.Gauge
}

// auditPoll is how often an exporter reads the store unwoken: the records
// other collector replicas append.
const auditPoll = time.Second

// auditBatch is how many records are read, and delivered before the
// cursor is saved, at once.
const auditBatch = 100

// NewAuditExporter returns an exporter; Run runs it.
func NewAuditExporter(name string, out AuditSink, st auditStore, reg prometheus.Registerer, log *zap.Logger) (*AuditExporter, error) {
	labels := prometheus.Labels{"sink": name}
	counter := func(metric, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: metric, Help: help, ConstLabels: labels})
	}
	gauge := func(metric, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: metric, Help: help, ConstLabels: labels})
	}
	e := &AuditExporter{name: name, out: out, st: st, log: log.With(zap.String("audit_sink", name)), wake: make(chan struct{}, 1),
		sent:     counter("vigil_audit_exported_total", "Audit records a sink delivered."),
		errs:     counter("vigil_audit_export_errors_total", "Audit deliveries that failed and are retried."),
		rejected: counter("vigil_audit_export_rejected_total", "Audit records the receiver refused for good (a 4xx answer): skipped."),
		lag:      gauge("vigil_audit_export_lag_seconds", "How long an audit sink has been behind the trail: 0 when it delivered every record."),
		active:   gauge("vigil_audit_export_active", "1 while this collector runs the audit sink (the leader of replicas sharing a store)."),
	}
	for _, c := range []prometheus.Collector{e.sent, e.errs, e.rejected, e.lag, e.active} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *AuditExporter) cursorName() string { return "audit-" + e.name }

// Notify wakes the exporter: a record was appended. It never blocks.
func (e *AuditExporter) Notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, from the cursor saved in the store. Run it
// in one collector at a time.
func (e *AuditExporter) Run(ctx context.Context) {
	e.active.Set(1)
	defer func() {
		e.active.Set(0)
		e.lag.Set(0)
	}()
	poll := time.NewTicker(auditPoll)
	defer poll.Stop()
	backoff := 100 * time.Millisecond
	cursor, started, caughtUp := int64(0), false, time.Now()
	for {
		var n int
		var err error
		if !started {
			cursor, _, err = e.st.SinkCursor(ctx, e.cursorName())
			started = err == nil
		}
		if started {
			n, cursor, err = e.deliverBatch(ctx, cursor)
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			e.errs.Inc()
			e.lag.Set(time.Since(caughtUp).Seconds())
			e.log.Warn("audit export failed; retrying", zap.Error(err))
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		case n > 0:
			backoff = 100 * time.Millisecond
			e.lag.Set(time.Since(caughtUp).Seconds())
			continue // there may be more
		}
		caughtUp = time.Now()
		e.lag.Set(0)
		select {
		case <-e.wake:
		case <-poll.C:
		case <-ctx.Done():
			return
		}
	}
}

// deliverBatch writes the records after cursor and saves the cursor past
// those delivered; it returns how many it delivered and the new cursor.
func (e *AuditExporter) deliverBatch(ctx context.Context, cursor int64) (int, int64, error) {
	recs, _, err := e.st.AuditRecords(ctx, store.AuditQuery{AfterSeq: cursor, Limit: auditBatch})
	if err != nil {
		return 0, cursor, err
	}
	delivered := 0
	for _, r := range recs {
		err := e.out.Write(ctx, r)
		switch {
		case errors.Is(err, sink.ErrRejected):
			e.rejected.Inc()
			e.log.Error("audit record rejected by the receiver", zap.Int64("seq", r.GetSeq()), zap.Error(err))
		case err != nil:
			return delivered, cursor, errors.Join(err, e.saveCursor(ctx, cursor))
		default:
			e.sent.Inc()
		}
		cursor = r.GetSeq()
		delivered++
	}
	if delivered == 0 {
		return 0, cursor, nil
	}
	return delivered, cursor, e.saveCursor(ctx, cursor)
}

func (e *AuditExporter) saveCursor(ctx context.Context, cursor int64) error {
	return e.st.PutSinkCursor(context.WithoutCancel(ctx), e.cursorName(), cursor)
}

// Close closes the sink; call it after Run returned.
func (e *AuditExporter) Close() error { return e.out.Close() }

// auditFile appends records to a file as JSON lines.
type auditFile struct {
	f *os.File
	w *bufio.Writer
}

func newAuditFile(path string) (*auditFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open audit file: %w", err)
	}
	return &auditFile{f: f, w: bufio.NewWriter(f)}, nil
}

func (a *auditFile) Write(_ context.Context, r *vigilv1.AuditRecord) error {
	line, err := audit.MarshalJSON(r)
	if err != nil {
		return err
	}
	a.w.Write(line)
	a.w.WriteByte('\n')
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("write audit file: %w", err)
	}
	return nil
}

func (a *auditFile) Close() error { return a.f.Close() }

// auditWebhook posts each record as its JSON.
type auditWebhook struct{ w *sink.Webhook }

func (a auditWebhook) Write(ctx context.Context, r *vigilv1.AuditRecord) error {
	body, err := audit.MarshalJSON(r)
	if err != nil {
		return errors.Join(err, sink.ErrRejected)
	}
	return a.w.Post(ctx, body)
}

func (a auditWebhook) Close() error { return a.w.Close() }
