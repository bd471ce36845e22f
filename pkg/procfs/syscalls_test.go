//go:build linux

package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// blockedOpen starts a thread of its own blocked in open (on a FIFO, with
// flags, by openat2 when how); release unblocks it, and the thread ends.
func blockedOpen(t *testing.T, flags int, how bool) (tid uint32, release func()) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tids := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		tids <- unix.Gettid()
		var fd int
		var err error
		if how {
			fd, err = unix.Openat2(unix.AT_FDCWD, fifo, &unix.OpenHow{Flags: uint64(flags)})
		} else {
			fd, err = unix.Openat(unix.AT_FDCWD, fifo, flags, 0)
		}
		if err == nil {
			unix.Close(fd)
		}
		close(done)
	}()
	tid = uint32(<-tids)
	peer := unix.O_RDONLY
	if flags&unix.O_WRONLY == 0 {
		peer = unix.O_WRONLY
	}
	return tid, func() {
		f, err := os.OpenFile(fifo, peer, 0)
		if err != nil {
			t.Fatal(err)
		}
		<-done
		f.Close()
	}
}

// TestSyscallsKeepsFilesOfLiveThreadsOnly reads a blocked open's flags
// through the kept file, again, and once its thread has ended: an error,
// not the call the kept file read before.
func TestSyscallsKeepsFilesOfLiveThreadsOnly(t *testing.T) {
	s := NewSyscalls("/proc")
	defer s.Close()
	tid, release := blockedOpen(t, unix.O_WRONLY|unix.O_APPEND, false)
	var flags uint64
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if flags, err = s.OpenFlags(tid); err == nil {
			break
		}
	}
	if err != nil || flags&^unix.O_LARGEFILE != unix.O_WRONLY|unix.O_APPEND {
		t.Fatalf("flags of the blocked open: %#o, %v", flags, err)
	}
	if again, err := s.OpenFlagsNoMemory(tid); err != nil || again != flags {
		t.Errorf("flags read again from the kept file: %#o, %v; want %#o", again, err, flags)
	}
	if len(s.files) != 1 {
		t.Errorf("%d files kept, want the thread's 1", len(s.files))
	}
	release()
	for deadline := time.Now().Add(10 * time.Second); Exists("/proc", tid) && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	if got, err := s.OpenFlags(tid); err == nil {
		t.Errorf("flags of an ended thread: %#o, want an error", got)
	}

	how, releaseHow := blockedOpen(t, unix.O_RDONLY, true)
	defer releaseHow()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err = s.OpenFlagsNoMemory(how); errors.Is(err, ErrOpenHow) {
			break
		}
	}
	if !errors.Is(err, ErrOpenHow) {
		t.Errorf("openat2's flags without its memory: %v, want ErrOpenHow", err)
	}
	if flags, err := s.OpenFlags(how); err != nil || flags&^unix.O_LARGEFILE != unix.O_RDONLY {
		t.Errorf("openat2's flags from its memory: %#o, %v", flags, err)
	}
}
