package sensor

import (
	"fmt"
	"math/bits"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/procfs"
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
	FilterOff = CgroupFilter(bpfobj.RecordVigilCgroupFilterCGROUP_FILTER_OFF)
	// FilterInclude traces only the listed cgroups and their descendants.
	FilterInclude = CgroupFilter(bpfobj.RecordVigilCgroupFilterCGROUP_FILTER_INCLUDE)
	// FilterExclude traces every cgroup but the listed ones and their descendants.
	FilterExclude = CgroupFilter(bpfobj.RecordVigilCgroupFilterCGROUP_FILTER_EXCLUDE)
)

// Config says what a Sensor traces and how much it buffers.
type Config struct {
	// Types selects the hook families to load. Exec, fork and exit events
	// are always delivered: the process table needs them.
	Types TypeSet
	// ExcludeSelf leaves the calling process untraced, in the kernel.
	ExcludeSelf bool
	// ContainedOnly keeps in the kernel, counted (Stats.Uncontained), the
	// opens, connects, capability uses and io_uring operations of tasks
	// that do not run a container's workload (the host's, the container
	// runtime's): for a consumer that judges only workloads. Exec, fork
	// and exit events are delivered all the same.
	ContainedOnly bool
	// CgroupFilter and Cgroups decide in the kernel which cgroups are traced;
	// the list can change later through AddCgroup and RemoveCgroup.
	CgroupFilter CgroupFilter
	Cgroups      []uint64
	// RingBufferSize in bytes, rounded up to a power of two and at least a page.
	RingBufferSize int
	// Previous are the ring buffers and counters of previous agents'
	// programs, still attached (enforce.PreviousMaps), by the name of their
	// map (bpfobj.RecordMapEvents, bpfobj.RecordMapJudgedEvents,
	// bpfobj.RecordMapStats): the rings read with this sensor's own until
	// EndHandover, each into the queue of its class, the counters' ring
	// buffer losses reported with its own (Stats); all closed by it.
	Previous map[string][]*ebpf.Map
	// QueueSize is how many decoded events wait for the consumer before new
	// ones are dropped (and counted).
	QueueSize int
	// JudgedRingBufferSize and JudgedQueueSize are the same for the events
	// of containers judged against a profile (monitor and enforce modes),
	// which have a ring buffer and a queue of their own (Sensor.Judged).
	JudgedRingBufferSize int
	JudgedQueueSize      int
	// WakeupBytes batches reader wakeups: the kernel wakes the reader once
	// this much waits in the ring buffer (at most a quarter of it); 0 wakes it
	// for every event that finds it idle.
	WakeupBytes int
	// MaxLatency bounds how long a batched event waits to be read.
	MaxLatency time.Duration
	// HostMntNS is the host's mount namespace inode (0: read from
	// ProcRoot): a process that execs elsewhere runs its container's
	// workload, and its events say so (FlagWorkload).
	HostMntNS uint32
	ProcRoot  string
	// SysExitOnly sees opens and connects at the system-call exit even
	// where the kernel runs fexit programs, which see them at the kernel
	// function that does them and cost nothing on other system calls
	// (Hooks says which serves each).
	SysExitOnly bool
}

// DefaultConfig traces everything but the agent itself.
func DefaultConfig() Config {
	return Config{
		Types:          NewTypeSet(TypeExec, TypeOpen, TypeConnect, TypeCapability, TypeIoUring),
		ExcludeSelf:    true,
		RingBufferSize: 16 << 20,
		QueueSize:      16384,
		// Judged containers report only news: violations and denials.
		JudgedRingBufferSize: 4 << 20,
		JudgedQueueSize:      4096,
		WakeupBytes:          64 << 10,
		MaxLatency:           50 * time.Millisecond,
		ProcRoot:             procfs.DefaultRoot,
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

// ringSizes are the sizes of the two ring buffers.
type ringSizes struct{ other, judged uint32 }

// programs is what the sensor loads: the families of its types (exec and
// process always are), the ring buffers, and the settings that decide in
// the kernel what is traced.
func programs(cfg Config, rings ringSizes) bpfobj.Programs {
	p := bpfobj.Programs{
		Constants: map[string]any{
			bpfobj.RecordVarCgroupFilterMode:  uint8(cfg.CgroupFilter),
			bpfobj.RecordVarSelfTgid:          uint32(0),
			bpfobj.RecordVarWakeupBytes:       wakeupBytes(cfg, rings.other),
			bpfobj.RecordVarJudgedWakeupBytes: wakeupBytes(cfg, rings.judged),
			bpfobj.RecordVarHostMntns:         cfg.HostMntNS,
			bpfobj.RecordVarContainedOnly:     cfg.ContainedOnly,
			bpfobj.SysexitVarTraceOpens:       cfg.Types.Has(TypeOpen),
			bpfobj.SysexitVarTraceConnects:    cfg.Types.Has(TypeConnect),
			bpfobj.SwitchTraceCapabilities:    cfg.Types.Has(TypeCapability),
			bpfobj.RecordVarCapUnjudged:       unjudgedMask(),
		},
		MapSizes: map[string]uint32{bpfobj.RecordMapEvents: rings.other, bpfobj.RecordMapJudgedEvents: rings.judged},
	}
	if cfg.ExcludeSelf {
		p.Constants[bpfobj.RecordVarSelfTgid] = uint32(os.Getpid())
	}
	for _, h := range trampolineHooks {
		if cfg.Types.Has(h.typ) && !cfg.SysExitOnly {
			p.Families = append(p.Families, h.family) // before the family whose handler it stands in for
		}
	}
	if cfg.Types.Has(TypeOpen) || cfg.Types.Has(TypeConnect) {
		p.Families = append(p.Families, bpfobj.FamilySysExit)
	}
	if cfg.Types.Has(TypeCapability) {
		p.Families = append(p.Families, bpfobj.FamilyCapability)
	}
	if cfg.Types.Has(TypeIoUring) {
		p.Families = append(p.Families, bpfobj.FamilyIoUring)
	}
	for _, id := range cfg.Cgroups {
		p.Entries = append(p.Entries, bpfobj.Entry{Map: bpfobj.RecordMapCgroupFilter, Key: id, Value: uint8(1)})
	}
	return p
}
