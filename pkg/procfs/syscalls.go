//go:build linux

package procfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// syscallFiles bounds the files Syscalls keeps open: past it, it closes
// them all and starts afresh.
const syscallFiles = 512

// Syscalls reads the open flags of threads blocked in an open (OpenFlags),
// keeping each thread's /proc/TID/syscall open: opening it costs about ten
// times reading it again (a read at offset 0 makes it anew). A kept file
// of a thread that ended reads an error, never another thread's call, even
// when its id is reused: it is then opened afresh.
type Syscalls struct {
	root  string
	mu    sync.Mutex
	files map[uint32]*os.File
}

// NewSyscalls reads threads' system calls from the procfs at root.
func NewSyscalls(root string) *Syscalls {
	return &Syscalls{root: root, files: map[uint32]*os.File{}}
}

// OpenFlags returns the flags of the open-family system call thread tid is
// blocked in (its /proc/TID/syscall: the number and arguments), reading
// openat2's struct open_how from its memory. It is meant for a thread
// stopped in the call, such as one waiting for a fanotify permission
// answer; a thread not in such a call (an io_uring worker's open, say)
// gives an error.
func (s *Syscalls) OpenFlags(tid uint32) (uint64, error) {
	return s.openFlags(tid, true)
}

// OpenFlagsNoMemory is OpenFlags without reading the thread's memory, whose
// read can wait on the thread's process (a page it handles the faults of):
// ErrOpenHow for openat2.
func (s *Syscalls) OpenFlagsNoMemory(tid uint32) (uint64, error) {
	return s.openFlags(tid, false)
}

func (s *Syscalls) openFlags(tid uint32, memory bool) (uint64, error) {
	data, err := s.read(tid, true)
	if err != nil {
		// The kept file's thread ended (its id may be another's now), or
		// the file was closed under this read: once afresh.
		if data, err = s.read(tid, false); err != nil {
			return 0, fmt.Errorf("syscall of %d: %w", tid, err)
		}
	}
	return openFlags(s.root, tid, data, memory)
}

// read reads thread tid's system call, from its kept file when kept.
func (s *Syscalls) read(tid uint32, kept bool) ([]byte, error) {
	s.mu.Lock()
	f := s.files[tid]
	if !kept && f != nil {
		delete(s.files, tid)
		f.Close()
		f = nil
	}
	s.mu.Unlock()
	if f == nil {
		var err error
		if f, err = os.Open(filepath.Join(Dir(s.root, tid), "syscall")); err != nil {
			return nil, err
		}
		s.keep(tid, f)
	}
	var buf [512]byte
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

func (s *Syscalls) keep(tid uint32, f *os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) >= syscallFiles {
		s.closeLocked()
	}
	if old := s.files[tid]; old != nil {
		old.Close()
	}
	s.files[tid] = f
}

// Close closes every kept file.
func (s *Syscalls) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *Syscalls) closeLocked() {
	for tid, f := range s.files {
		f.Close()
		delete(s.files, tid)
	}
}
