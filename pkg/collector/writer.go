package collector

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/store"
)

var errStopping = errors.New("collector is stopping")

// writer commits alerts from every agent stream together: requests that
// queue up while a transaction runs go into the next one (group commit), so
// many streams share each fsync instead of paying one each.
type writer struct {
	store   store.AlertStore
	reqs    chan writeReq
	max     int
	timeout time.Duration
	quit    chan struct{}
	done    chan struct{}
	batch   prometheus.Histogram
}

type writeReq struct {
	alerts []*vigilv1.Alert
	done   chan writeResult
}

type writeResult struct {
	isNew []bool
	err   error
}

func newWriter(s store.AlertStore, maxBatch int, batch prometheus.Histogram) *writer {
	w := &writer{
		store: s, reqs: make(chan writeReq), max: maxBatch, timeout: 30 * time.Second,
		quit: make(chan struct{}), done: make(chan struct{}), batch: batch,
	}
	go w.run()
	return w
}

// write stores alerts and reports which were new. When ctx ends first the
// alerts may or may not be stored; the agent resends and the store dedups.
func (w *writer) write(ctx context.Context, alerts []*vigilv1.Alert) ([]bool, error) {
	req := writeReq{alerts: alerts, done: make(chan writeResult, 1)}
	select {
	case w.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.quit:
		return nil, errStopping
	}
	select {
	case r := <-req.done:
		return r.isNew, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *writer) run() {
	defer close(w.done)
	for {
		select {
		case req := <-w.reqs:
			w.commit(w.gather(req))
		case <-w.quit:
			return
		}
	}
}

// gather adds the requests already waiting, up to max alerts.
func (w *writer) gather(first writeReq) []writeReq {
	reqs, n := []writeReq{first}, len(first.alerts)
	for n < w.max {
		select {
		case r := <-w.reqs:
			reqs, n = append(reqs, r), n+len(r.alerts)
		default:
			return reqs
		}
	}
	return reqs
}

func (w *writer) commit(reqs []writeReq) {
	var all []*vigilv1.Alert
	for _, r := range reqs {
		all = append(all, r.alerts...)
	}
	w.batch.Observe(float64(len(all)))
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	isNew, err := w.store.PutAlerts(ctx, all)
	cancel()
	for _, r := range reqs {
		if err != nil {
			r.done <- writeResult{err: err}
			continue
		}
		r.done <- writeResult{isNew: isNew[:len(r.alerts)]}
		isNew = isNew[len(r.alerts):]
	}
}

func (w *writer) stop() {
	close(w.quit)
	<-w.done
}
