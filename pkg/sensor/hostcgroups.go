package sensor

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// HostCgroups is the kernel's set of cgroups container attribution found
// to be the host's (containers.HostCgroups). Under Config.ContainedOnly, a
// task that looks like a workload (it exec'd in a mount namespace of its
// own: a sandboxed host service) but is in a marked cgroup with no
// container scope has its behaviour kept in the kernel, counted
// (Stats.HostCgroup). An unmarked cgroup is always judged, and so is one
// with a container scope, marked or not.
type HostCgroups struct{ m *ebpf.Map }

// HostCgroups returns the kernel's set of host cgroups, empty at start.
func (s *Sensor) HostCgroups() *HostCgroups {
	return &HostCgroups{m: s.objs.Map(bpfobj.RecordMapHostCgroups)}
}

// Mark adds cgroupID to the set; marking it again is no error. A full set
// refuses new cgroups (their events are delivered, as before): the caller
// bounds it like its own cache and clears both together.
func (h *HostCgroups) Mark(cgroupID uint64) error {
	if err := h.m.Put(cgroupID, uint8(1)); err != nil {
		return fmt.Errorf("mark cgroup %d as the host's: %w", cgroupID, err)
	}
	return nil
}

// Clear empties the set.
func (h *HostCgroups) Clear() error {
	var (
		id  uint64
		v   uint8
		ids []uint64
	)
	// Keys are gathered first: deleting while iterating a hash map can
	// restart the iteration.
	it := h.m.Iterate()
	for it.Next(&id, &v) {
		ids = append(ids, id)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list host cgroups: %w", err)
	}
	for _, id := range ids {
		if err := h.m.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unmark host cgroup %d: %w", id, err)
		}
	}
	return nil
}

// Marked reports whether cgroupID is in the set.
func (h *HostCgroups) Marked(cgroupID uint64) (bool, error) {
	var v uint8
	err := h.m.Lookup(cgroupID, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up host cgroup %d: %w", cgroupID, err)
	}
	return true, nil
}
