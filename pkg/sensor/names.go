package sensor

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// OpenFlags are the O_* flags an open was called with.
type OpenFlags uint64

// Read reports whether the open asked for read access.
func (f OpenFlags) Read() bool {
	acc := f & unix.O_ACCMODE
	return acc == unix.O_RDONLY || acc == unix.O_RDWR
}

// Write reports whether the open can modify the file: write access, creation or truncation.
func (f OpenFlags) Write() bool {
	acc := f & unix.O_ACCMODE
	return acc == unix.O_WRONLY || acc == unix.O_RDWR || f&(unix.O_CREAT|unix.O_TRUNC) != 0
}

var openFlagNames = []struct {
	flag OpenFlags
	name string
}{
	{unix.O_CREAT, "create"},
	{unix.O_TRUNC, "trunc"},
	{unix.O_APPEND, "append"},
	{unix.O_EXCL, "excl"},
	{unix.O_DIRECTORY, "directory"},
	{unix.O_NOFOLLOW, "nofollow"},
	{unix.O_PATH, "path"},
	{unix.O_TMPFILE &^ unix.O_DIRECTORY, "tmpfile"},
}

// Names lists the flags by name: the access ("read", "write" or both) and then
// create, trunc, append, excl, directory, nofollow, path, tmpfile.
func (f OpenFlags) Names() []string { return f.AppendNames(nil) }

// AppendNames appends the names Names lists to names, so that a caller on a
// hot path can reuse one slice.
func (f OpenFlags) AppendNames(names []string) []string {
	switch f & unix.O_ACCMODE {
	case unix.O_RDONLY:
		names = append(names, "read")
	case unix.O_WRONLY:
		names = append(names, "write")
	case unix.O_RDWR:
		names = append(names, "read", "write")
	}
	for _, fn := range openFlagNames {
		if f&fn.flag == fn.flag {
			names = append(names, fn.name)
		}
	}
	return names
}

// Family is a socket address family.
type Family uint16

func (f Family) String() string {
	switch f {
	case unix.AF_INET:
		return "inet"
	case unix.AF_INET6:
		return "inet6"
	case unix.AF_UNIX:
		return "unix"
	case unix.AF_UNSPEC:
		return "unspec"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// Protocol is a socket's IP protocol.
type Protocol uint16

func (p Protocol) String() string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	case unix.IPPROTO_ICMP:
		return "icmp"
	case unix.IPPROTO_ICMPV6:
		return "icmpv6"
	case unix.IPPROTO_SCTP:
		return "sctp"
	case 0:
		return ""
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// SockType is a socket's type.
type SockType uint16

func (t SockType) String() string {
	switch t {
	case unix.SOCK_STREAM:
		return "stream"
	case unix.SOCK_DGRAM:
		return "dgram"
	case unix.SOCK_RAW:
		return "raw"
	case unix.SOCK_SEQPACKET:
		return "seqpacket"
	case 0:
		return ""
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

var capabilityNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapabilityName returns the name of capability number cap, such as CAP_SYS_ADMIN.
func CapabilityName(cap int32) string {
	if cap >= 0 && int(cap) < len(capabilityNames) {
		return capabilityNames[cap]
	}
	return "CAP_" + strconv.Itoa(int(cap))
}
