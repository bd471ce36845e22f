package containers

// ScopeTable is the kernel side of attribution: a map from cgroup id to the
// scope of the container owning that cgroup, which BPF programs key on. The
// sensor implements it over a BPF hash map; it must start empty, since the
// resolver writes every entry it needs and deletes only those it wrote.
//
// Set and Delete are never called concurrently; they are called on task
// create, task exit, container delete, inventory, and when Lookup resolves a
// container on demand.
type ScopeTable interface {
	// Set maps cgroupID to scope, replacing any previous scope.
	Set(cgroupID uint64, scope uint32) error
	// Delete removes cgroupID; deleting an absent id is not an error.
	Delete(cgroupID uint64) error
}
