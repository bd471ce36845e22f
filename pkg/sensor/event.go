package sensor

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// Type is the kind of an event.
type Type uint8

// The event types. Values match enum vigil_event_type.
const (
	TypeExec       Type = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_EXEC)
	TypeOpen       Type = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_OPEN)
	TypeConnect    Type = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_CONNECT)
	TypeCapability Type = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_CAPABILITY)
	TypeFork       Type = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_FORK)
	TypeExit       Type = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_EXIT)
	TypeIoUring    Type = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_IO_URING)

	typeLimit = Type(bpfobj.RecordVigilEventTypeVIGIL_EVENT_TYPE_MAX)
)

var typeNames = [typeLimit]string{
	TypeExec:       "exec",
	TypeOpen:       "open",
	TypeConnect:    "connect",
	TypeCapability: "capability",
	TypeFork:       "fork",
	TypeExit:       "exit",
	TypeIoUring:    "io_uring",
}

// AllTypes lists every event type, in order.
var AllTypes = []Type{TypeExec, TypeOpen, TypeConnect, TypeCapability, TypeFork, TypeExit, TypeIoUring}

func (t Type) String() string {
	if t < typeLimit && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// BehaviourTypes are the event types a profile learns and judges; forks
// and exits only keep the process table.
var BehaviourTypes = []Type{TypeExec, TypeOpen, TypeConnect, TypeCapability, TypeIoUring}

// Learned reports whether t is one of BehaviourTypes.
func (t Type) Learned() bool { return t != TypeFork && t != TypeExit }

// ParseType returns the Type named s ("exec", "open", …).
func ParseType(s string) (Type, error) {
	for _, t := range AllTypes {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown event type %q (want one of exec, open, connect, capability, fork, exit, io_uring)", s)
}

// Flags qualify an event; values match enum vigil_event_flag.
type Flags uint32

// The event flags.
const (
	FlagPathTruncated  = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_PATH_TRUNCATED)
	FlagArgvTruncated  = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_ARGV_TRUNCATED)
	FlagMemfd          = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_MEMFD)
	FlagDeleted        = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_DELETED)
	FlagUpperLayer     = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_UPPER_LAYER)
	FlagPathUnresolved = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_PATH_UNRESOLVED)
	FlagCompatSyscall  = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_COMPAT_SYSCALL)
	FlagPathDetached   = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_PATH_DETACHED)
	FlagKilled         = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_KILLED)
	FlagDenied         = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_DENIED)
	// FlagWorkload: the process runs its container's workload, as the
	// kernel decides it (see process.Process.Contained).
	FlagWorkload = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_WORKLOAD)
	// FlagCreated: the open created the file (it did not exist before).
	FlagCreated = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_CREATED)
	// FlagImage: the opened file is content the container's image ships,
	// unchanged (on its root overlay, from a lower layer).
	FlagImage = Flags(bpfobj.RecordVigilEventFlagVIGIL_F_IMAGE)
)

// Has reports whether every flag in f2 is set.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// Event is one thing a traced process did. Type says which of the detail
// fields (Exec, Open, Connect, Capability, IoUring, Fork, Exit) is filled in.
type Event struct {
	Type     Type
	Flags    Flags
	Time     time.Time
	PID      uint32 // process id (the kernel's tgid)
	TID      uint32 // thread id (the kernel's pid)
	PPID     uint32 // the real parent's process id
	UID      uint32
	EUID     uint32
	GID      uint32
	MntNS    uint32 // mount namespace inode
	CgroupID uint64 // cgroup2 id: the inode of the task's cgroup2 directory
	Comm     string

	Exec       Exec
	Open       Open
	Connect    Connect
	Capability Capability
	IoUring    IoUring
	Fork       Fork
	Exit       Exit

	released bool // handed back to the pool (Release)
}

// Inode identifies a file by device and inode number.
type Inode struct {
	Dev uint32 // kernel dev_t: major << 20 | minor
	Ino uint64
}

// Major is the device's major number.
func (i Inode) Major() uint32 { return i.Dev >> 20 }

// Minor is the device's minor number.
func (i Inode) Minor() uint32 { return i.Dev & (1<<20 - 1) }

// Exec is a successful execve or execveat.
type Exec struct {
	// Path is the executed file's absolute path as the process sees it, after
	// symlinks, relative paths and "..". For a script it is the interpreter.
	Path string
	// Filename is the name the caller passed (relative, a symlink, /dev/fd/N…).
	Filename string
	Argv     []string
	Argc     uint32
	Inode    Inode
}

// Open is an open, openat, openat2 or creat.
type Open struct {
	// Path is the opened file's absolute path. When the open failed there is no
	// file: Path is the passed name joined to the directory it was relative to,
	// cleaned lexically, and the event has FlagPathUnresolved.
	Path  string
	Flags OpenFlags
	Ret   int32 // the file descriptor, or -errno
	Inode Inode // zero when the open failed
	// Repeats are opens of the same file, with the same access, by the same
	// container, that the kernel folded into this one since it last
	// reported the file (a learning container's scope, ScopePolicy.Collapse).
	Repeats uint32
}

// Connect is a connect(2).
type Connect struct {
	Family   Family
	Addr     netip.Addr // inet and inet6
	Port     uint16
	UnixPath string // unix; an abstract name starts with "@"
	Protocol Protocol
	SockType SockType
	Ret      int32 // 0, or -errno (-EINPROGRESS for a non-blocking connect)
	// Repeats are inet connects to the same destination by the same
	// container, kept in the kernel while its image is learned and folded
	// into this report (see ScopePolicy.Collapse).
	Repeats uint32
}

// Capability is a capability check.
type Capability struct {
	Cap int32
	Ret int32 // 0 when granted
	// Repeats are uses of the same capability by the same container,
	// kept in the kernel while its image is learned and folded into this
	// report (see ScopePolicy.Collapse).
	Repeats uint32
}

// Granted reports whether the kernel granted the capability.
func (c Capability) Granted() bool { return c.Ret == 0 }

// Name is the capability's name, such as CAP_NET_RAW.
func (c Capability) Name() string { return CapabilityName(c.Cap) }

// IoUring is an io_uring operation: a ring set up (Op is IoUringSetup)
// or a request submitted (Op is its IORING_OP_* opcode).
type IoUring struct {
	Op uint8
	// Repeats are the same operation by the same container kept in the
	// kernel and folded into this report: submissions come one per I/O.
	Repeats uint32
}

// IoUringSetup is IoUring.Op for setting up a ring (io_uring_setup).
const IoUringSetup = uint8(bpfobj.RecordVigilIoUringOpVIGIL_IO_URING_SETUP)

// Fork is the creation of a process (threads are not reported). The event's
// header describes the parent.
type Fork struct {
	ChildPID      uint32
	ChildCgroupID uint64
}

// Exit is the end of a process.
type Exit struct {
	Status uint32 // wait(2) status
}

// Code is the exit code of a process that exited normally.
func (e Exit) Code() int { return int(e.Status>>8) & 0xff }

// Signal is the signal that killed the process, or 0.
func (e Exit) Signal() int { return int(e.Status & 0x7f) }
