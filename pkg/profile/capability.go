package profile

import (
	"fmt"
	"strings"
)

// Capability is a Linux capability number as the kernel's cap_capable hook
// reports it. Profiles spell capabilities by name (CAP_NET_RAW).
type Capability uint8

// capNames is indexed by capability number (include/uapi/linux/capability.h).
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// MaxCapability is the highest capability number vigil knows by name.
const MaxCapability = Capability(len(capNames) - 1)

// Valid reports whether c is a capability the kernel defines.
func (c Capability) Valid() bool { return c <= MaxCapability }

// String gives the capability's name, or CAP_<n> for a number unknown to
// this build.
func (c Capability) String() string {
	if c.Valid() {
		return capNames[c]
	}
	return fmt.Sprintf("CAP_%d", uint8(c))
}

// ParseCapability reads a capability name such as CAP_NET_RAW.
func ParseCapability(name string) (Capability, error) {
	for i, n := range capNames {
		if n == name {
			return Capability(i), nil
		}
	}
	if !strings.HasPrefix(name, "CAP_") {
		return 0, fmt.Errorf("unknown capability %q (names start with CAP_, e.g. CAP_NET_RAW)", name)
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}
