package sink

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Sink delivers one alert; it is called from one goroutine at a time.
type Sink interface {
	Write(ctx context.Context, a *vigilv1.Alert) error
	Close() error
}

// Log field keys.
const (
	logKeySink    = "sink"
	logKeyAlertID = "alert_id"
)

// Queue runs a Sink on its own goroutine behind a bounded queue.
type Queue struct {
	name    string
	sink    Sink
	ch      chan *vigilv1.Alert
	done    chan struct{}
	cancel  context.CancelFunc
	log     *zap.Logger
	retries int
	backoff time.Duration

	sent    prometheus.Counter
	dropped *prometheus.CounterVec
}

// QueueOptions tune a Queue.
type QueueOptions struct {
	// Size is how many alerts may wait; more are dropped (default 1024).
	Size int
	// Attempts per alert before it is dropped (default 3), with Backoff
	// (default 200ms) doubling between attempts.
	Attempts int
	Backoff  time.Duration
}

// NewQueue starts a goroutine that writes queued alerts to s. Metrics
// vigil_sink_sent_total and vigil_sink_dropped_total{reason} carry the
// label sink=name.
func NewQueue(name string, s Sink, o QueueOptions, reg prometheus.Registerer, log *zap.Logger) (*Queue, error) {
	if o.Size <= 0 {
		o.Size = 1024
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	labels := prometheus.Labels{"sink": name}
	q := &Queue{
		name: name, sink: s, ch: make(chan *vigilv1.Alert, o.Size), done: make(chan struct{}),
		log: log.With(zap.String(logKeySink, name)), retries: o.Attempts, backoff: o.Backoff,
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_sink_sent_total", Help: "Alerts a sink delivered.", ConstLabels: labels,
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_sink_dropped_total", Help: "Alerts a sink dropped: queue_full or failed (after retries).", ConstLabels: labels,
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{q.sent, q.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	go q.run(ctx)
	return q, nil
}

// Enqueue hands a over without blocking; it reports false (and counts the
// drop) when the queue is full.
func (q *Queue) Enqueue(a *vigilv1.Alert) bool {
	select {
	case q.ch <- a:
		return true
	default:
		q.dropped.WithLabelValues("queue_full").Inc()
		return false
	}
}

func (q *Queue) run(ctx context.Context) {
	defer close(q.done)
	for a := range q.ch {
		q.deliver(ctx, a)
	}
}

func (q *Queue) deliver(ctx context.Context, a *vigilv1.Alert) {
	wait := q.backoff
	for attempt := 1; ; attempt++ {
		err := q.sink.Write(ctx, a)
		if err == nil {
			q.sent.Inc()
			return
		}
		if attempt == q.retries || ctx.Err() != nil {
			q.dropped.WithLabelValues("failed").Inc()
			q.log.Warn("sink dropped alert", zap.String(logKeyAlertID, a.GetId()), zap.Error(err))
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait *= 2
	}
}

// Close delivers what is queued (giving up after the context ends) and
// closes the sink. Enqueue must not be called after Close.
func (q *Queue) Close(ctx context.Context) error {
	close(q.ch)
	select {
	case <-q.done:
	case <-ctx.Done():
		q.cancel()
		<-q.done
	}
	q.cancel()
	return q.sink.Close()
}
