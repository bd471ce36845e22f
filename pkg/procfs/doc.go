// Package procfs reads what vigil needs of a procfs, mounted at a root the
// caller gives (the host's, which a containerised agent mounts elsewhere):
// mount namespaces, mounts, processes.
package procfs

// DefaultRoot is where procfs is mounted on a host.
const DefaultRoot = "/proc"
