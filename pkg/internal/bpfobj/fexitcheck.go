package bpfobj

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// checkPath is where the self-check's opens and connect go: beneath a
// character device, so each fails (ENOTDIR) in the path walk, inside the
// kernel function, and creates nothing.
const checkPath = "/dev/null/vigil-fexit-check"

// A checkCall is one kind of call a fexit family must see: fexit runs only
// where a call reaches the function's out-of-line copy, and a kernel build
// that inlined it into one system call would lose that call's events
// without a sign.
type checkCall struct {
	name string          // the system call: open, openat, openat2, creat, connect
	kind RecordSyscallNr // its counter in the program's check_seen
	// call makes it, whatever its result; ENOSYS when the kernel has no
	// such call, another error when it could not be made.
	call func() error
}

var openChecks = []checkCall{
	{"open", RecordSyscallNrNR_OPEN, func() error {
		return rawOpen(unix.SYS_OPEN, unix.O_RDONLY, 0)
	}},
	{"openat", RecordSyscallNrNR_OPENAT, func() error {
		return result(unix.Openat(unix.AT_FDCWD, checkPath, unix.O_RDONLY, 0))
	}},
	{"openat2", RecordSyscallNrNR_OPENAT2, func() error {
		return result(unix.Openat2(unix.AT_FDCWD, checkPath, &unix.OpenHow{Flags: unix.O_RDONLY}))
	}},
	{"creat", RecordSyscallNrNR_CREAT, func() error {
		return rawOpen(unix.SYS_CREAT, 0o600, 0)
	}},
}

var connectChecks = []checkCall{
	{"connect", RecordSyscallNrNR_CONNECT, func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: checkPath}); errors.Is(err, unix.ENOSYS) {
			return err
		}
		return nil
	}},
}

// rawOpen makes open(2) or creat(2) of checkPath by number: the library
// makes both through openat.
func rawOpen(nr uintptr, a1, a2 uintptr) error {
	p, err := unix.BytePtrFromString(checkPath)
	if err != nil {
		return err
	}
	fd, _, errno := unix.Syscall(nr, uintptr(unsafe.Pointer(p)), a1, a2)
	if errno != 0 {
		return result(0, errno)
	}
	return result(int(fd), nil)
}

// result is a check call's outcome: only ENOSYS matters. Nothing opens
// beneath /dev/null, but a descriptor is never leaked.
func result(fd int, err error) error {
	if errors.Is(err, unix.ENOSYS) {
		return err
	}
	if err == nil {
		unix.Close(fd)
	}
	return nil
}

// selfCheck makes each of f's check calls from one locked thread, with the
// programs counting that thread's calls (bpf/lib/fexit_check.h), and says
// which did not reach them. The counted calls are not events.
func selfCheck(f Family, lf *loadedFamily) error {
	tid, seenVar := lf.coll.Variables["check_tid"], lf.coll.Variables["check_seen"]
	if tid == nil || seenVar == nil {
		return fmt.Errorf("%s has no self-check counters", f.Name)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := tid.Set(uint32(unix.Gettid())); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	var made []checkCall
	var callErr error
	for _, c := range f.check {
		err := c.call()
		switch {
		case errors.Is(err, unix.ENOSYS): // no such call on this kernel: none to miss
		case err != nil:
			callErr = errors.Join(callErr, fmt.Errorf("%s: %w", c.name, err))
		default:
			made = append(made, c)
		}
	}
	if err := tid.Set(uint32(0)); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if callErr != nil {
		return callErr
	}
	var seen [RecordSyscallNrNR_OTHER]uint32
	if err := seenVar.Get(&seen); err != nil {
		return fmt.Errorf("read counters: %w", err)
	}
	return missed(strings.Join(lf.sections, ","), made, seen)
}

// missed is the check's verdict: nil when every call made was counted,
// else the calls the programs at attach did not see.
func missed(attach string, made []checkCall, seen [RecordSyscallNrNR_OTHER]uint32) error {
	var not []string
	for _, c := range made {
		if seen[c.kind] == 0 {
			not = append(not, c.name)
		}
	}
	if not == nil {
		return nil
	}
	return fmt.Errorf("%s did not see %s: inlined?", attach, strings.Join(not, ", "))
}
