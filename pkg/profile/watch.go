package profile

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// settle is how long Run waits after a change notification before
// rescanning, so that the burst of events of one update (a ConfigMap swaps
// a ..data symlink and removes the old data directory) costs one scan.
const settle = 100 * time.Millisecond

// watchMask covers every way a file in the directory can appear, change or
// go: kubelet updates a ConfigMap volume by renaming a new ..data symlink
// over the old one (IN_MOVED_TO), editors write and rename.
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_CLOSE_WRITE | unix.IN_MODIFY |
	unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

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

// dirWatch is an inotify watch on one directory. Its events channel gets a
// value per batch of events and is closed when the watch ends (directory
// removed, or close).
type dirWatch struct {
	f      *os.File
	events chan struct{}
}

func newDirWatch(dir string) (*dirWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify init: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	// A non-blocking fd handed to os.NewFile joins the runtime poller, so
	// Close unblocks the reader goroutine.
	w := &dirWatch{f: os.NewFile(uintptr(fd), "inotify:"+dir), events: make(chan struct{}, 1)}
	go w.read()
	return w, nil
}

func (w *dirWatch) read() {
	defer close(w.events)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		ended := false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := binary.NativeEndian.Uint32(buf[off+12:])
			ended = ended || mask&unix.IN_IGNORED != 0
			off += unix.SizeofInotifyEvent + int(nameLen)
		}
		select {
		case w.events <- struct{}{}:
		default:
		}
		if ended {
			return
		}
	}
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
