package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// ErrMalformed is wrapped by every decoding error: a record shorter than its
// fixed part or than the strings it announces, or of an unknown type.
var ErrMalformed = errors.New("malformed record")

// decoder turns ring-buffer records into Events. Not safe for concurrent use.
type decoder struct {
	bootEpoch time.Time // wall-clock time of boot: CLOCK_BOOTTIME zero
	comms     map[[16]int8]string
	paths     map[string]string // opened files' paths, interned
	pathBytes int
}

// maxInternedPathBytes bounds the interned paths: the files a workload
// opens again and again are few, and only they are worth keeping. A table
// filled with ever new paths (a build on the node) is live heap of each
// reader's decoder, its map at its largest: 1.35 MiB at 1 MiB of paths,
// 0.38 MiB at this bound (measured with 50-byte paths).
const maxInternedPathBytes = 1 << 18

func newDecoder() *decoder {
	d := &decoder{comms: make(map[[16]int8]string), paths: make(map[string]string)}
	d.syncClock()
	return d
}

// syncClock re-anchors boot time to the wall clock, which NTP may have moved.
func (d *decoder) syncClock() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return
	}
	d.bootEpoch = time.Now().Add(-time.Duration(ts.Nano()))
}

// fixedPart views the start of raw as the record struct T. The ring buffer
// and the reader's buffer keep records 8-byte aligned.
func fixedPart[T any](raw []byte) (*T, []byte, error) {
	var zero T
	n := int(unsafe.Sizeof(zero))
	if len(raw) < n {
		return nil, nil, fmt.Errorf("%w: %d bytes, fixed part needs %d", ErrMalformed, len(raw), n)
	}
	return (*T)(unsafe.Pointer(&raw[0])), raw[n:], nil
}

// cut splits n bytes off the front of tail.
func cut(tail []byte, n uint16) ([]byte, []byte, error) {
	if int(n) > len(tail) {
		return nil, nil, fmt.Errorf("%w: string of %d bytes, %d left", ErrMalformed, n, len(tail))
	}
	return tail[:n], tail[n:], nil
}

// decode fills ev from one record. On error ev is undefined.
func (d *decoder) decode(raw []byte, ev *Event) error {
	hdr, _, err := fixedPart[bpfobj.RecordEventHeader](raw)
	if err != nil {
		return err
	}
	if hdr.Type >= uint32(typeLimit) {
		return fmt.Errorf("%w: unknown event type %d", ErrMalformed, hdr.Type)
	}
	*ev = Event{
		Type:     Type(hdr.Type),
		Flags:    Flags(hdr.Flags),
		Time:     d.bootEpoch.Add(time.Duration(hdr.TimeNs)),
		PID:      hdr.Tgid,
		TID:      hdr.Pid,
		PPID:     hdr.Ppid,
		UID:      hdr.Uid,
		EUID:     hdr.Euid,
		GID:      hdr.Gid,
		MntNS:    hdr.Mntns,
		CgroupID: hdr.CgroupId,
		Comm:     d.comm(hdr.Comm),
	}
	switch ev.Type {
	case TypeExec:
		return d.decodeExec(raw, ev)
	case TypeOpen:
		return d.decodeOpen(raw, ev)
	case TypeConnect:
		return decodeConnect(raw, ev)
	case TypeCapability:
		rec, _, err := fixedPart[bpfobj.RecordCapabilityEvent](raw)
		if err != nil {
			return err
		}
		ev.Capability = Capability{Cap: rec.Cap, Ret: rec.Ret, Repeats: rec.Repeats}
	case TypeIoUring:
		rec, _, err := fixedPart[bpfobj.RecordIoUringEvent](raw)
		if err != nil {
			return err
		}
		ev.IoUring = IoUring{Op: uint8(rec.Op), Repeats: rec.Repeats}
	case TypeFork:
		rec, _, err := fixedPart[bpfobj.RecordForkEvent](raw)
		if err != nil {
			return err
		}
		ev.Fork = Fork{ChildPID: rec.ChildTgid, ChildCgroupID: rec.ChildCgroupId}
	case TypeExit:
		rec, _, err := fixedPart[bpfobj.RecordExitEvent](raw)
		if err != nil {
			return err
		}
		ev.Exit = Exit{Status: rec.ExitCode}
	default:
		return fmt.Errorf("%w: unknown event type %d", ErrMalformed, hdr.Type)
	}
	return nil
}

// comm interns command names: a node runs few distinct ones.
func (d *decoder) comm(raw [16]int8) string {
	if s, ok := d.comms[raw]; ok {
		return s
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&raw[0])), len(raw))
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := string(b)
	if len(d.comms) < 4096 {
		d.comms[raw] = s
	}
	return s
}

// path interns a file's path: a file opened or executed again costs no
// allocation. The cache empties when full, so a node opening ever new files
// pays a map insert per event, never unbounded memory.
func (d *decoder) path(b []byte) string {
	if s, ok := d.paths[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.pathBytes+len(s) > maxInternedPathBytes {
		clear(d.paths)
		d.pathBytes = 0
	}
	d.paths[s] = s
	d.pathBytes += len(s)
	return s
}

func (d *decoder) decodeExec(raw []byte, ev *Event) error {
	rec, tail, err := fixedPart[bpfobj.RecordExecEvent](raw)
	if err != nil {
		return err
	}
	p, tail, err := cut(tail, rec.PathLen)
	if err != nil {
		return err
	}
	filename, tail, err := cut(tail, rec.FilenameLen)
	if err != nil {
		return err
	}
	argv, _, err := cut(tail, rec.ArgvLen)
	if err != nil {
		return err
	}
	ev.Exec = Exec{
		Path:     d.path(p),
		Filename: d.path(filename),
		Argv:     splitArgv(argv),
		Argc:     rec.Argc,
		Inode:    Inode{Dev: rec.Dev, Ino: rec.Ino},
	}
	return nil
}

// splitArgv splits NUL-terminated arguments; a last one cut short by
// truncation has no terminator and is kept as far as it goes. The arguments
// share one string: two allocations, however many there are.
func splitArgv(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	all := string(b)
	argv := make([]string, 0, strings.Count(all, "\x00")+1)
	for len(all) > 0 {
		i := strings.IndexByte(all, 0)
		if i < 0 {
			argv = append(argv, all)
			break
		}
		argv = append(argv, all[:i])
		all = all[i+1:]
	}
	return argv
}

func (d *decoder) decodeOpen(raw []byte, ev *Event) error {
	rec, tail, err := fixedPart[bpfobj.RecordOpenEvent](raw)
	if err != nil {
		return err
	}
	p, tail, err := cut(tail, rec.PathLen)
	if err != nil {
		return err
	}
	name, _, err := cut(tail, rec.NameLen)
	if err != nil {
		return err
	}
	ev.Open = Open{
		Flags:   OpenFlags(rec.OpenFlags),
		Ret:     rec.Ret,
		Inode:   Inode{Dev: rec.Dev, Ino: rec.Ino},
		Repeats: rec.Repeats,
	}
	if ev.Flags.Has(FlagPathUnresolved) {
		ev.Open.Path = joinUnresolved(string(p), string(name))
	} else {
		ev.Open.Path = d.path(p)
	}
	return nil
}

// joinUnresolved builds the path a failed open named: the name if absolute,
// else the name relative to the directory the kernel resolved.
func joinUnresolved(dir, name string) string {
	switch {
	case path.IsAbs(name):
		return path.Clean(name)
	case dir == "":
		return name
	default:
		return path.Join(dir, name)
	}
}

func decodeConnect(raw []byte, ev *Event) error {
	rec, tail, err := fixedPart[bpfobj.RecordConnectEvent](raw)
	if err != nil {
		return err
	}
	sunPath, _, err := cut(tail, rec.PathLen)
	if err != nil {
		return err
	}
	c := Connect{
		Family:   Family(rec.Family),
		Port:     rec.Port,
		Protocol: Protocol(rec.Protocol),
		SockType: SockType(rec.SockType),
		Ret:      rec.Ret,
		Repeats:  rec.Repeats,
	}
	switch c.Family {
	case unix.AF_INET:
		c.Addr = netip.AddrFrom4([4]byte(rec.Addr[:4]))
	case unix.AF_INET6:
		c.Addr = netip.AddrFrom16(rec.Addr)
	case unix.AF_UNIX:
		c.UnixPath = unixPath(sunPath)
	}
	ev.Connect = c
	return nil
}

// unixPath renders sun_path: a path ends at its first NUL; an abstract name
// (leading NUL) is its bytes, shown with "@" as ss(8) does.
func unixPath(b []byte) string {
	if len(b) > 0 && b[0] == 0 {
		return "@" + string(bytes.TrimRight(b[1:], "\x00"))
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
