// Package enforce turns promoted profiles into kernel enforcement: it
// compiles each profile into the kernel's policy maps (path hashes, network
// prefixes, a capability mask), keeps every container of an enforce-mode
// image pointed at its image's compiled profile, and says honestly, per
// hook, which mechanism (tier) enforces it on this node.
package enforce
