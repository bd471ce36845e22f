//go:build linux

package procfs

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOpenFlagsOfABlockedOpen reads the flags of opens blocked on a FIFO
// (an open of one waits for its other end), as the fanotify listener reads
// those of an open waiting for its answer.
func TestOpenFlagsOfABlockedOpen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags int
		open  func(path string, flags int) (int, error)
	}{
		{"openat, read", unix.O_RDONLY | unix.O_CLOEXEC, func(p string, fl int) (int, error) { return unix.Openat(unix.AT_FDCWD, p, fl, 0) }},
		{"openat, write", unix.O_WRONLY | unix.O_APPEND, func(p string, fl int) (int, error) { return unix.Openat(unix.AT_FDCWD, p, fl, 0) }},
		{"openat2, read", unix.O_RDONLY | unix.O_NOCTTY, func(p string, fl int) (int, error) {
			return unix.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{Flags: uint64(fl)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			tids := make(chan int, 1)
			opened := make(chan error, 1)
			go func() {
				runtime.LockOSThread()
				tids <- unix.Gettid()
				fd, err := tc.open(fifo, tc.flags)
				if err == nil {
					unix.Close(fd)
				}
				opened <- err
			}()
			tid := uint32(<-tids)
			var flags uint64
			var err error
			syscalls := NewSyscalls("/proc")
			defer syscalls.Close()
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if flags, err = syscalls.OpenFlags(tid); err == nil {
					break
				}
			}
			tgid, tgidErr := Tgid("/proc", tid)
			// Unblock the open: a reader or a writer at the other end.
			peer := unix.O_RDONLY
			if tc.flags&unix.O_WRONLY == 0 {
				peer = unix.O_WRONLY
			}
			f, perr := os.OpenFile(fifo, peer, 0)
			if perr != nil {
				t.Fatal(perr)
			}
			defer f.Close()
			if oerr := <-opened; oerr != nil {
				t.Fatal(oerr)
			}
			if err != nil {
				t.Fatalf("flags of the blocked open: %v", err)
			}
			if flags&^unix.O_LARGEFILE != uint64(tc.flags) {
				t.Errorf("flags %#o, want %#o", flags, tc.flags)
			}
			if tgidErr != nil || tgid != uint32(os.Getpid()) {
				t.Errorf("Tgid of thread %d = %d, %v; want %d", tid, tgid, tgidErr, os.Getpid())
			}
		})
	}
	if _, err := NewSyscalls("/proc").OpenFlags(uint32(unix.Gettid())); err == nil {
		t.Error("a thread reading its own syscall file is not in an open, yet flags were found")
	}
}
