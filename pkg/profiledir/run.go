package profiledir

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/dirwatch"
)

// settle is how long Run waits after a change notification before
// rescanning, so that the burst of events of one update (a ConfigMap swaps
// a ..data symlink and removes the old data directory) costs one scan.
const settle = 100 * time.Millisecond

// Run follows the directory until ctx is done: it watches it with inotify,
// rescans after each burst of changes and at least every resync interval
// (the only trigger when inotify is unavailable or the watched directory
// went away), and publishes changes. It reloads once at start, after the
// watch is in place, so no change is missed. It returns as soon as ctx
// ends, even while a scan is stuck in a read the kernel does not
// interrupt (a hung network or FUSE filesystem): that scan goes on in the
// background until the read returns.
func (l *Loader) Run(ctx context.Context) error {
	w := l.watch()
	defer func() { closeWatch(w) }()
	scans := make(chan struct{}, 1)
	go l.scanLoop(ctx, scans)
	rescan := func() {
		select {
		case scans <- struct{}{}:
		default: // a scan is already pending; it will see this change too
		}
	}
	rescan()
	ticker := time.NewTicker(l.resync)
	defer ticker.Stop()
	debounce := time.NewTimer(settle)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events(w):
			if !ok {
				l.log.Warn("profile directory watch ended; polling until it can be re-established", zap.String(logKeyDir, l.dir))
				closeWatch(w)
				w = nil
			}
			debounce.Reset(settle)
		case <-debounce.C:
			rescan()
		case <-ticker.C:
			if w == nil {
				w = l.watch()
			}
			rescan()
		}
	}
}

// scanLoop rescans the directory on each request until ctx ends.
func (l *Loader) scanLoop(ctx context.Context, scans <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-scans:
			_ = l.reload(ctx) // rejected files and directory errors are logged by reload
		}
	}
}

func (l *Loader) watch() *dirwatch.Watch {
	if l.noWatch {
		return nil
	}
	w, err := dirwatch.New(l.dir)
	if err != nil {
		l.log.Warn("cannot watch profile directory; polling it", zap.String(logKeyDir, l.dir),
			zap.Duration("every", l.resync), zap.Error(err))
		return nil
	}
	return w
}

// events is w's events channel, or nil (never ready) without a watch.
func events(w *dirwatch.Watch) <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.Events()
}

func closeWatch(w *dirwatch.Watch) {
	if w != nil {
		w.Close()
	}
}
