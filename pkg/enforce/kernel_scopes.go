package enforce

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// ScopeMap is the kernel's table from a container's cgroup id to its scope,
// a small per-container id kernel-side decisions are keyed on.
type ScopeMap struct{ m *ebpf.Map }

// Scopes returns the kernel's scope table.
func (k *Kernel) Scopes() *ScopeMap { return &ScopeMap{m: k.objs.Map(bpfobj.RecordMapContainerScopes)} }

// Set maps cgroupID to scope, replacing any previous scope.
func (sm *ScopeMap) Set(cgroupID uint64, scope uint32) error {
	if err := sm.m.Put(cgroupID, scope); err != nil {
		return fmt.Errorf("set scope of cgroup %d: %w", cgroupID, err)
	}
	return nil
}

// Delete removes cgroupID; an absent one is not an error.
func (sm *ScopeMap) Delete(cgroupID uint64) error {
	if err := sm.m.Delete(cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete scope of cgroup %d: %w", cgroupID, err)
	}
	return nil
}

// Lookup returns the scope of cgroupID, if any.
func (sm *ScopeMap) Lookup(cgroupID uint64) (uint32, bool, error) {
	var scope uint32
	err := sm.m.Lookup(cgroupID, &scope)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up scope of cgroup %d: %w", cgroupID, err)
	}
	return scope, true, nil
}
