//go:build linux

package procfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// errNotOpening: the thread is not in an open-family system call.
var errNotOpening = errors.New("not in an open system call")

// Tgid is the thread group (process) of thread tid.
func Tgid(root string, tid uint32) (uint32, error) {
	data, err := os.ReadFile(filepath.Join(Dir(root, tid), "status"))
	if err != nil {
		return 0, fmt.Errorf("status of %d: %w", tid, err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return 0, fmt.Errorf("status of %d: Tgid %q: %w", tid, v, err)
			}
			return uint32(n), nil
		}
	}
	return 0, fmt.Errorf("status of %d: no Tgid", tid)
}

// ErrOpenHow: the thread is in openat2, whose flags are in its memory.
var ErrOpenHow = errors.New("flags in open_how")

// openFlags are the open flags from data, thread tid's /proc/TID/syscall;
// openat2's are read from its memory, unless not memory (ErrOpenHow).
func openFlags(root string, tid uint32, data []byte, memory bool) (uint64, error) {
	fields := strings.Fields(string(data))
	if len(fields) < 4 {
		return 0, fmt.Errorf("syscall of %d: %w", tid, errNotOpening)
	}
	nr, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("syscall of %d: %w", tid, errNotOpening) // "running"
	}
	arg := func(i int) (uint64, error) {
		return strconv.ParseUint(strings.TrimPrefix(fields[1+i], "0x"), 16, 64)
	}
	call, ok := openCalls[nr]
	if !ok {
		return 0, fmt.Errorf("syscall of %d: %d: %w", tid, nr, errNotOpening)
	}
	v, err := arg(call.flagsArg)
	if err != nil {
		return 0, fmt.Errorf("syscall of %d: %w", tid, err)
	}
	switch call.kind {
	case openHow:
		if !memory {
			return 0, fmt.Errorf("syscall of %d: %w", tid, ErrOpenHow)
		}
		return openHowFlags(root, tid, v)
	case openCreat:
		return unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, nil
	}
	return v, nil
}

// The open-family system calls, by how their flags are found.
type openKind int

const (
	openFlagsArg openKind = iota // flags in an argument
	openHow                      // openat2: flags in struct open_how at an argument
	openCreat                    // creat: O_CREAT|O_WRONLY|O_TRUNC
)

type openCall struct {
	kind     openKind
	flagsArg int
}

// openHowFlags reads open_how.flags (its first field, a u64) at addr in
// thread tid's memory.
func openHowFlags(root string, tid uint32, addr uint64) (uint64, error) {
	f, err := os.Open(filepath.Join(Dir(root, tid), "mem"))
	if err != nil {
		return 0, fmt.Errorf("memory of %d: %w", tid, err)
	}
	defer f.Close()
	var buf [8]byte
	if _, err := f.ReadAt(buf[:], int64(addr)); err != nil {
		return 0, fmt.Errorf("open_how of %d at %#x: %w", tid, addr, err)
	}
	return binary.NativeEndian.Uint64(buf[:]), nil
}
