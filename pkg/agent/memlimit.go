package agent

import "fmt"

const (
	// memoryReserve is what the agent's memory cgroup holds besides the Go
	// runtime's memory and the ring buffers: the other BPF maps (the
	// largest, the learning LRUs, a few MiB), the binary's pages (about
	// 21 MiB resident), the page cache of what it writes.
	memoryReserve = 64 << 20
	// minGoMemory is the least a memory limit must leave the Go runtime:
	// its heap, stacks and runtime structures take 8 to 14 MiB (RssAnon)
	// idle and at 1 000 events/s, more while a burst fills the queues.
	minGoMemory = 32 << 20
)

// GoMemoryLimit is the soft limit for the Go runtime (debug.SetMemoryLimit)
// under --memory-limit, the pod's limit: that limit less what the cgroup
// holds that Go does not count (the ring buffers and memoryReserve). Near
// it Go collects garbage more often, rather than let the heap grow to twice
// what is live as it does without a limit, which can take the pod past its
// limit in a burst; the pod's limit still ends an agent whose live heap
// outgrows it. 0 means no limit (--memory-limit unset).
func (r *RunFlags) GoMemoryLimit() (int64, error) {
	if r.MemoryLimit <= 0 {
		return 0, nil
	}
	rings := int64(r.Config.Sensor.RingBufferSize) + int64(r.Config.Sensor.JudgedRingBufferSize)
	left := r.MemoryLimit - rings - memoryReserve
	if left < minGoMemory {
		return 0, fmt.Errorf("--memory-limit %d MiB leaves %d MiB for the Go runtime after %d MiB of ring buffers and %d MiB of maps and binary, want at least %d MiB",
			r.MemoryLimit>>20, left>>20, rings>>20, memoryReserve>>20, minGoMemory>>20)
	}
	return left, nil
}
