package sensor

import (
	"fmt"
	"math/bits"
	"os"
	"strings"
	"time"
)

// TypeSet is a set of event types.
type TypeSet uint16

// NewTypeSet returns the set of the given types.
func NewTypeSet(types ...Type) TypeSet {
	var s TypeSet
	for _, t := range types {
		s |= 1 << t
	}
	return s
}

// ParseTypeSet parses a comma-separated list of type names ("exec,open").
func ParseTypeSet(list string) (TypeSet, error) {
	var s TypeSet
	for _, name := range strings.Split(list, ",") {
		t, err := ParseType(strings.TrimSpace(name))
		if err != nil {
			return 0, err
		}
		s |= NewTypeSet(t)
	}
	return s, nil
}

// Has reports whether t is in the set.
func (s TypeSet) Has(t Type) bool { return s&(1<<t) != 0 }

// CgroupFilter chooses which cgroups are traced; values match enum vigil_cgroup_filter.
type CgroupFilter uint8

// The cgroup filter modes.
const (
	// FilterOff traces every cgroup.
	FilterOff = CgroupFilter(recordVigilCgroupFilterCGROUP_FILTER_OFF)
	// FilterInclude traces only the listed cgroups and their descendants.
	FilterInclude = CgroupFilter(recordVigilCgroupFilterCGROUP_FILTER_INCLUDE)
	// FilterExclude traces every cgroup but the listed ones and their descendants.
	FilterExclude = CgroupFilter(recordVigilCgroupFilterCGROUP_FILTER_EXCLUDE)
)

// Config says what a Sensor traces and how much it buffers.
type Config struct {
	// Types selects the hook families to load. Exec, fork and exit events
	// are always delivered: the process table needs them.
	Types TypeSet
	// ExcludeSelf leaves the calling process untraced, in the kernel.
	ExcludeSelf bool
	// CgroupFilter and Cgroups decide in the kernel which cgroups are traced;
	// the list can change later through AddCgroup and RemoveCgroup.
	CgroupFilter CgroupFilter
	Cgroups      []uint64
	// RingBufferSize in bytes, rounded up to a power of two and at least a page.
	RingBufferSize int
	// QueueSize is how many decoded events wait for the consumer before new
	// ones are dropped (and counted).
	QueueSize int
	// WakeupBytes batches reader wakeups: the kernel wakes the reader once
	// this much waits in the ring buffer (at most a quarter of it); 0 wakes it
	// for every event that finds it idle.
	WakeupBytes int
	// MaxLatency bounds how long a batched event waits to be read.
	MaxLatency time.Duration
	// LearnWindow is how long a use a learning container repeats (an open,
	// an inet connect, a capability) stays in the kernel after it was
	// reported (ScopePolicy.Collapse); 0 reports every use.
	LearnWindow time.Duration
	// HostMntNS is the host's mount namespace inode (0: read from /proc):
	// a process that execs elsewhere runs its container's workload, and
	// its events say so (FlagWorkload).
	HostMntNS uint32
	// GuardConnect loads the cgroup connect programs, attached at
	// CgroupRoot (the cgroup2 mount), that refuse connects enforced
	// profiles do not allow.
	GuardConnect bool
	CgroupRoot   string
	// LSM loads the BPF LSM programs that deny, before the action, what
	// enforced profiles do not allow; the signal tier is then off. Set it
	// only where ProbeLSM succeeded: their failing to load is an error.
	LSM bool
	// PinDir, when set (a directory on bpffs, mounted if needed), keeps the
	// enforcing programs attached after Close; see ReleasePrevious.
	PinDir string
}

// DefaultConfig traces everything but the agent itself.
func DefaultConfig() Config {
	return Config{
		Types:          NewTypeSet(TypeExec, TypeOpen, TypeConnect, TypeCapability),
		ExcludeSelf:    true,
		RingBufferSize: 16 << 20,
		QueueSize:      16384,
		WakeupBytes:    64 << 10,
		MaxLatency:     50 * time.Millisecond,
		LearnWindow:    10 * time.Second,
	}
}

// ringBufferSize rounds n up to what a BPF ring buffer accepts: a power of
// two and a multiple of the page size.
func ringBufferSize(n int) (uint32, error) {
	page := os.Getpagesize()
	if n < page {
		n = page
	}
	size := uint64(1) << bits.Len64(uint64(n-1))
	if size > 1<<30 {
		return 0, fmt.Errorf("ring buffer of %d bytes is larger than 1 GiB", n)
	}
	return uint32(size), nil
}

// wakeupBytes is the batching threshold for a ring buffer of ringSize bytes.
func wakeupBytes(cfg Config, ringSize uint32) uint64 {
	return uint64(min(cfg.WakeupBytes, int(ringSize/4)))
}
