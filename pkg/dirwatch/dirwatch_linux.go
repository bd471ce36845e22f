//go:build linux

package dirwatch

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mask covers every way a file in the directory can appear, change or go:
// kubelet updates a ConfigMap volume by renaming a new ..data symlink over
// the old one (IN_MOVED_TO), editors write and rename.
const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_CLOSE_WRITE | unix.IN_MODIFY |
	unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// New watches dir.
func New(dir string) (*Watch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify init: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	// A non-blocking fd handed to os.NewFile joins the runtime poller, so
	// Close unblocks the reader goroutine.
	w := &Watch{f: os.NewFile(uintptr(fd), "inotify:"+dir), events: make(chan struct{}, 1)}
	go w.read()
	return w, nil
}

func (w *Watch) read() {
	defer close(w.events)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		ended := false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			m := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := binary.NativeEndian.Uint32(buf[off+12:])
			ended = ended || m&unix.IN_IGNORED != 0
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
