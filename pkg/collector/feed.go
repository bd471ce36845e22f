package collector

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/store"
)

// feedBatch is how many stored alerts the feed reads at once.
const feedBatch = 1024

// feed gives the live tail every alert stored, by this collector or by
// another replica sharing its store, once and in the order stored: it reads
// the store after the sequence number of the last alert it published. It
// is woken by this collector's inserts and, on a shared store, by the
// store's notifications; a notification lost while the listener was
// disconnected costs nothing, as the listener wakes it again once it
// listens and the reading starts from the cursor.
type feed struct {
	src    store.SinkStore
	hub    *hub
	log    *zap.Logger
	errs   func()
	wakeCh chan struct{}
	cursor atomic.Int64
}

func newFeed(ctx context.Context, src store.SinkStore, h *hub, log *zap.Logger, errs func()) (*feed, error) {
	_, last, err := src.AlertSeqRange(ctx)
	if err != nil {
		return nil, err
	}
	f := &feed{src: src, hub: h, log: log, errs: errs, wakeCh: make(chan struct{}, 1)}
	f.cursor.Store(last)
	return f, nil
}

// wake tells the feed alerts up to seq were stored (0: some were). It never
// blocks.
func (f *feed) wake(seq int64) {
	if seq != 0 && seq <= f.cursor.Load() {
		return // published already
	}
	select {
	case f.wakeCh <- struct{}{}:
	default:
	}
}

// run publishes until stop closes. A read that fails is retried at the
// next wake or after a second.
func (f *feed) run(stop <-chan struct{}) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-f.wakeCh:
		case <-retry.C:
		case <-stop:
			return
		}
		if err := f.catchUp(stop); err != nil {
			f.errs()
			f.log.Error("read stored alerts for the live tail", zap.Error(err))
			retry.Reset(time.Second)
		}
	}
}

func (f *feed) catchUp(stop <-chan struct{}) error {
	for {
		cursor := f.cursor.Load()
		_, last, err := f.src.AlertSeqRange(context.Background())
		if err != nil {
			return err
		}
		if last < cursor {
			// Every alert was deleted and SQLite numbers new ones from 1.
			cursor = 0
		}
		batch, err := f.src.AlertsAfter(context.Background(), cursor, feedBatch)
		if err != nil {
			return err
		}
		for _, sa := range batch {
			f.hub.publish(sa.Alert)
			cursor = sa.Seq
		}
		f.cursor.Store(cursor)
		select {
		case <-stop:
			return nil
		default:
		}
		if len(batch) < feedBatch {
			return nil
		}
	}
}

// listen keeps the store's alert notifications calling wake (which wakes
// the feed, and may wake more) until stop closes.
func (f *feed) listen(n store.AlertNotifier, wake func(seq int64), stop <-chan struct{}) {
	keepListening(stop, f.log, f.errs, "alert", func(ctx context.Context) error { return n.ListenAlerts(ctx, wake) })
}

// keepListening runs listen until stop closes, again a second after each
// time its connection fails.
func keepListening(stop <-chan struct{}, log *zap.Logger, errs func(), what string, listen func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		err := listen(ctx)
		if ctx.Err() != nil {
			return
		}
		errs()
		log.Warn(what+" notifications lost; listening again", zap.Error(err))
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
	}
}
