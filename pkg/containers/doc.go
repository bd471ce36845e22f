// Package containers attributes kernel events to containers: it maps the
// cgroup id of an event (bpf_get_current_cgroup_id) to the container it came
// from, with the container's image name and digest and its Kubernetes
// identity, as containerd knows them.
//
// A Resolver follows containerd over its socket: an inventory of running
// containers at start, then task and container events, reconnecting with
// backoff (and a fresh inventory) when containerd restarts. It resolves a
// container when its task is created, before its entrypoint runs; and since
// a kernel event can still overtake containerd's event, Lookup resolves an
// unknown container-like cgroup on demand, from the cgroup id alone. Lookup
// tells containers, host processes and unattributable container processes
// apart; it never drops an event.
//
// A ScopeTable (the sensor's BPF map) is kept in sync with a small scope id
// per running container, keyed by cgroup id, so the kernel can decide per
// container.
package containers
