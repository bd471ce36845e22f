package profile

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"
)

// settle is how long Run waits after a change notification before
// rescanning, so that the burst of events of one update (a ConfigMap swaps
// a ..data symlink and removes the old data directory) costs one scan.
const settle = 100 * time.Millisecond

// Run follows the directory until ctx is done: it watches it with inotify,
// rescans after each burst of changes and at least every resync interval
// (the only trigger when inotify is unavailable or the watched directory
// went away), and publishes changes. It reloads once at start, after the
// watch is in place, so no change is missed.
func (l *DirLoader) Run(ctx context.Context) error {
	w := l.watch()
	defer func() { w.close() }()
	_ = l.Reload() // rejected files and directory errors are logged by Reload
	ticker := time.NewTicker(l.resync)
	defer ticker.Stop()
	debounce := time.NewTimer(settle)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.eventsOrNil():
			if !ok {
				l.log.Warn("profile directory watch ended; polling until it can be re-established", zap.String(logKeyDir, l.dir))
				w.close()
				w = nil
			}
			debounce.Reset(settle)
		case <-debounce.C:
			_ = l.Reload()
		case <-ticker.C:
			if w == nil {
				w = l.watch()
			}
			_ = l.Reload()
		}
	}
}

func (l *DirLoader) watch() *dirWatch {
	if l.noWatch {
		return nil
	}
	w, err := newDirWatch(l.dir)
	if err != nil {
		l.log.Warn("cannot watch profile directory; polling it", zap.String(logKeyDir, l.dir),
			zap.Duration("every", l.resync), zap.Error(err))
		return nil
	}
	return w
}

// dirWatch is a watch on one directory (inotify, on Linux). Its events
// channel gets a value per batch of events and is closed when the watch
// ends (directory removed, or close).
type dirWatch struct {
	f      *os.File
	events chan struct{}
}

// eventsOrNil is the events channel, or nil (never ready) without a watch.
func (w *dirWatch) eventsOrNil() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.events
}

func (w *dirWatch) close() {
	if w != nil {
		w.f.Close()
	}
}
