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

// HostCgroups is the kernel's set of cgroups attribution found to be the
// host's (the sensor's BPF hash map): `vigil-agent run` keeps in the kernel
// the behaviour of workload-like tasks there (host services with a mount
// namespace of their own), which it would only drop. A cgroup not in the
// set is always judged, so it may be incomplete; the kernel bounds it, and
// the resolver clears it with its cache of host cgroups, which it bounds
// alike, then marks the root cgroup again.
//
// Mark and Clear are called under the resolver's table lock, never
// concurrently.
type HostCgroups interface {
	// Mark adds cgroupID to the set; marking it again is no error.
	Mark(cgroupID uint64) error
	// Clear empties the set.
	Clear() error
}
