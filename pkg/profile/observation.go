package profile

import (
	"fmt"
	"net/netip"
	"time"
)

// Kind says which hook an Observation came from and so which allowlist it
// is checked against.
type Kind uint8

// The five kinds of behaviour a profile allows.
const (
	KindExec Kind = iota + 1
	KindOpen
	KindConnect
	KindCapability
	KindIoUring
)

// String names the kind as the sensor and alerts do.
func (k Kind) String() string {
	switch k {
	case KindExec:
		return "exec"
	case KindOpen:
		return "open"
	case KindConnect:
		return "connect"
	case KindCapability:
		return "capability"
	case KindIoUring:
		return "io_uring"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Access is a bit set of what a file open asked for. Write includes creating
// and truncating the file.
type Access uint8

// Access bits; AccessReadWrite is both.
const (
	AccessRead      Access = 1
	AccessWrite     Access = 2
	AccessReadWrite        = AccessRead | AccessWrite
)

// String gives the YAML spelling: read, write or readwrite.
func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessReadWrite:
		return "readwrite"
	}
	return fmt.Sprintf("access(%d)", uint8(a))
}

// ParseAccess reads the YAML spelling of an Access.
func ParseAccess(s string) (Access, error) {
	switch s {
	case "read":
		return AccessRead, nil
	case "write":
		return AccessWrite, nil
	case "readwrite":
		return AccessReadWrite, nil
	}
	return 0, fmt.Errorf("unknown access %q (want read, write or readwrite)", s)
}

// Protocol is the transport of a connect.
type Protocol uint8

// Transports a network entry can name.
const (
	TCP Protocol = iota + 1
	UDP
)

// String gives the YAML spelling: tcp or udp.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// ParseProtocol reads the YAML spelling of a Protocol.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want tcp or udp)", s)
}

// Destination is where an inet connect went. The address family is the
// address's own; IPv4-mapped IPv6 addresses are treated as IPv4.
type Destination struct {
	Addr     netip.Addr
	Port     uint16
	Protocol Protocol
}

// Observation is one exec, open, connect, capability or io_uring use of a container,
// as the sensor and container attribution deliver it. Which fields matter
// depends on Kind:
//
//	KindExec:       Path (absolute path of the executed file), Written, Applet
//	KindOpen:       Path, Access, Created and Image
//	KindConnect:    Network for inet sockets, or UnixPath for unix sockets
//	KindCapability: Capability (the kernel's number, e.g. 13 for CAP_NET_RAW)
//	KindIoUring:    IoUring (an opcode, or IoUringSetup)
//
// ContainerID, Node and Time are evidence, and Created (the open made the
// file) tells the learner which directories a container creates files in;
// none of them affects matching.
type Observation struct {
	Kind   Kind
	Path   string
	Access Access
	// Image: the opened file is content the image ships, unchanged: it
	// comes from a lower layer of the container's root filesystem (not a
	// volume, not written or copied up at run time).
	Image      bool
	Network    Destination
	UnixPath   string
	Capability Capability
	IoUring    IoUringOp
	Created    bool
	// Written: the executed file was written after the container started
	// (on its writable layer, a memfd, deleted), not the image's own.
	Written bool
	// Applet is the applet the exec's argv selects (see Applet), "" when
	// none: a multi-call binary's entries may allow only some.
	Applet      string
	ContainerID string
	Node        string
	Time        time.Time
	// Repeats are further sightings the kernel folded into this one (a
	// learning container's repeated opens, connects and capability uses,
	// any container's repeated io_uring operations):
	// they count as observations.
	Repeats uint64
}

// sightings is how many observations o stands for.
func (o *Observation) sightings() uint64 { return 1 + o.Repeats }
