// Package enforce turns promoted profiles into enforcement and says
// honestly, per hook, which mechanism (tier) enforces it on this node.
//
// Its kernel side (Kernel) holds what enforcement asks of vigil's programs:
// the policy maps a profile compiles into (path hashes, network prefixes, a
// capability mask), the scope table pointing each container at its image's
// compiled profile, the LSM and connect guard programs, and the pinned
// links that keep enforcing across an agent restart. The fanotify listener
// enforces opens where BPF LSM is missing. The Controller keeps all of it in
// line with the containers, their modes and profiles.
//
// Every tier decides through the one judge (policy.Engine, behind Judge):
// the kernel's maps are compiled from the mode and profile it gives, the
// fanotify listener asks it about each open, and the cross-tier agreement
// test holds them all to the monitor's decision.
package enforce
