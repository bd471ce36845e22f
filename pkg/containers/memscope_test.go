package containers

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// memScopeTable is a ScopeTable in memory with a BPF hash map's behaviour:
// a fixed capacity (Set of a new key into a full map fails, like E2BIG) and
// idempotent Delete. It also keeps its history, so tests can check order.
// The real one is a BPF map in the sensor, which these tests cannot load.
type memScopeTable struct {
	capacity int

	mu      sync.Mutex
	entries map[uint64]uint32
	history []string
}

func newMemScopeTable(capacity int) *memScopeTable {
	return &memScopeTable{capacity: capacity, entries: map[uint64]uint32{}}
}

func (m *memScopeTable) Set(cgroupID uint64, scope uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[cgroupID]; !ok && len(m.entries) >= m.capacity {
		return fmt.Errorf("scope table full (%d entries)", m.capacity)
	}
	m.entries[cgroupID] = scope
	m.history = append(m.history, fmt.Sprintf("set %d=%d", cgroupID, scope))
	return nil
}

func (m *memScopeTable) Delete(cgroupID uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, cgroupID)
	m.history = append(m.history, fmt.Sprintf("delete %d", cgroupID))
	return nil
}

// snapshot returns a copy of the current entries.
func (m *memScopeTable) snapshot() map[uint64]uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.entries)
}

// get returns the scope of cgroupID and whether it is present.
func (m *memScopeTable) get(cgroupID uint64) (uint32, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.entries[cgroupID]
	return s, ok
}

// ops returns the history of Set and Delete calls.
func (m *memScopeTable) ops() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.history)
}
