/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every vigil BPF object shares: the maps userspace loads once and hands
 * to each object (events, judged_events, stats, cgroup_filter, scratch),
 * load-time tunables, the event header, the scoping decision and whether a
 * task runs its container's workload.
 */
#ifndef VIGIL_COMMON_H
#define VIGIL_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil.h"

char LICENSE[] SEC("license") = "GPL";

/* Set at load time by userspace. */
const volatile __u32 self_tgid = 0; /* the agent itself: never traced */
const volatile __u8 cgroup_filter_mode = 0; /* enum vigil_cgroup_filter */
/* Wake the reader only once this much is waiting (0: whenever it is idle);
 * it also polls, so a quiet trickle is read within its latency bound. */
const volatile __u64 wakeup_bytes = 0;
/* The same for judged_events. */
const volatile __u64 judged_wakeup_bytes = 0;

#define CGROUP_MAX_DEPTH 16
#define PATH_MASK (VIGIL_PATH_MAX - 1)

/* Sized by userspace at load time (a power of two, a multiple of the page size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

/* The records of containers judged against a profile (monitor and enforce
 * modes: their violations and denials, emitted only as news), apart from
 * everything else: a flood of learning or host records can never fill it,
 * and userspace reads it first. Sized like events. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} judged_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sensor_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* cgroup id */
	__type(value, __u8);
} cgroup_filter SEC(".maps");

/* Records the ring buffer had no room for, by the cgroup of the task they
 * were about, drained by userspace: a loss then marks incomplete only the
 * drafts of the containers it hit, not every draft on the node. An LRU
 * keeps the cgroups losing now; what it cannot keep userspace counts as
 * anyone's (the stats count every loss). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* cgroup id */
	__type(value, __u64);
} lost_by_cgroup SEC(".maps");

/* cgroup id of a container → its scope, kept in sync by userspace from
 * containerd, so that decisions can be taken in the kernel per container. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} container_scopes SEC(".maps");

/* Cgroups container attribution found to be the host's, marked by
 * userspace as it resolves them (cleared with its cache, which it bounds
 * alike), the root always. Under contained_only, a workload-like task in
 * one (a host service with a mount namespace of its own) is kept in the
 * kernel unless the cgroup has a container scope: a cgroup not marked is
 * judged, so a new container never waits for the agent to know it, and
 * enforcement never depends on this set. Written by userspace only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 16);
	__type(key, __u64); /* cgroup id */
	__type(value, __u8);
} host_cgroups SEC(".maps");

/* The policy maps are written by userspace only: allocated as they fill,
 * their memory follows the profiles loaded, not the limits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); /* scope */
	__type(value, struct scope_policy);
} scope_policies SEC(".maps");

/* current_scope is the scope of the current task's container, or NULL. */
static __always_inline __u32 *current_scope(void)
{
	__u64 cgroup = bpf_get_current_cgroup_id();

	return bpf_map_lookup_elem(&container_scopes, &cgroup);
}

/* current_policy is the policy of the current task's container, or NULL
 * outside containers the kernel profiles or learns: callers check the hook
 * in the mask they act on. */
static __always_inline struct scope_policy *current_policy(void)
{
	__u32 *scope = current_scope();

	return scope ? bpf_map_lookup_elem(&scope_policies, scope) : NULL;
}

/* The host's initial mount namespace: an exec elsewhere contains a task. */
const volatile __u32 host_mntns = 0;

struct task_state {
	__u8 contained;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

/* task_contained: the task runs its container's workload: it, or the
 * ancestor it forked from, exec'd outside the host's mount namespace. A task
 * older than the agent has no state: judge by its mount namespace. Every
 * record carries the answer (VIGIL_F_WORKLOAD), so userspace never rebuilds
 * it from execs it may not have seen. */
static __always_inline bool task_contained(struct task_struct *task)
{
	struct task_state *st = bpf_task_storage_get(&task_states, task, 0, 0);

	if (st)
		return st->contained;
	return task->nsproxy->mnt_ns->ns.inum != host_mntns;
}

/* Room to build one record: the path is assembled backwards in path[], then
 * copied into event[] behind the fixed struct, followed by other strings. */
struct scratch {
	/* The path walk's position and flags live here, not on the stack: the
	 * verifier cannot track values in map memory, so the walk's states
	 * converge instead of differing at every step. */
	__u32 path_off;
	__u32 path_flags;
	__u64 match[11]; /* struct match_state, for the path matcher */
	char path[2 * VIGIL_PATH_MAX];
	char event[256 + 2 * VIGIL_PATH_MAX + VIGIL_ARGV_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline bool cgroup_listed(struct task_struct *task)
{
	__u64 id = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&cgroup_filter, &id))
		return true;

	int level = BPF_CORE_READ(task, cgroups, dfl_cgrp, level);
	for (int i = 0; i < CGROUP_MAX_DEPTH; i++) {
		if (i >= level)
			break;
		id = bpf_get_current_ancestor_cgroup_id(i);
		if (bpf_map_lookup_elem(&cgroup_filter, &id))
			return true;
	}
	return false;
}

/* should_trace decides, for the current task, whether its events are wanted. */
static __always_inline bool should_trace(struct task_struct *task)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (tgid == self_tgid)
		return false;
	if (cgroup_filter_mode == CGROUP_FILTER_OFF)
		return true;
	bool listed = cgroup_listed(task);
	return cgroup_filter_mode == CGROUP_FILTER_INCLUDE ? listed : !listed;
}

static __always_inline void fill_header(struct event_header *hdr, __u32 type, struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	/* task is a BTF pointer (every caller's is): plain loads, which the
	 * verifier guards, read its fields without a helper call each. */
	const struct cred *cred = task->cred;

	hdr->time_ns = bpf_ktime_get_boot_ns();
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	hdr->type = type;
	hdr->flags = 0;
	hdr->pid = (__u32)pid_tgid;
	hdr->tgid = pid_tgid >> 32;
	hdr->ppid = task->real_parent->tgid;
	hdr->uid = cred->uid.val;
	hdr->euid = cred->euid.val;
	hdr->gid = cred->gid.val;
	hdr->mntns = task->nsproxy->mnt_ns->ns.inum;
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
	if (task_contained(task))
		hdr->flags |= VIGIL_F_WORKLOAD;
}

static __always_inline struct sensor_stats *get_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats, &zero);
}

/* count_lost_cgroup counts a lost record against the current cgroup. Two
 * CPUs adding a cgroup's first loss at once keep one: the other is counted
 * as anyone's loss, never as none. */
static __always_inline void count_lost_cgroup(void)
{
	__u64 id = bpf_get_current_cgroup_id(), one = 1, *n;

	n = bpf_map_lookup_elem(&lost_by_cgroup, &id);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&lost_by_cgroup, &id, &one, BPF_NOEXIST);
}

/* emit copies size bytes of a built record into the ring buffer of its
 * task's container (judged_events where a profile judges it, events
 * otherwise) and counts the outcome: every event is either emitted or
 * counted lost. It returns whether the record went in. */
static __always_inline bool emit(void *record, __u64 size, __u32 type)
{
	struct sensor_stats *s = get_stats();
	struct scope_policy *pol = current_policy();
	bool judged = pol && pol->profile;
	void *ring = judged ? (void *)&judged_events : (void *)&events;
	__u64 wakeup = judged ? judged_wakeup_bytes : wakeup_bytes;
	__u64 flags = 0;
	long err;

	/* A wakeup costs the producer an irq_work and an IPI: batch them. Wake
	 * only as the backlog crosses the threshold: above it the reader is
	 * already awake (it sleeps only on an empty ring), and waking it for
	 * every record there would cost the producer an IPI per event just when
	 * the reader is falling behind. */
	if (wakeup) {
		__u64 backlog = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);

		flags = backlog < wakeup && backlog + size >= wakeup ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	}
	err = bpf_ringbuf_output(ring, record, size, flags);
	/* Behaviour a draft learns; a fork or exit lost is the process table's. */
	if (err && (type <= VIGIL_EVENT_CAPABILITY || type == VIGIL_EVENT_IO_URING))
		count_lost_cgroup();

	if (s) {
		type &= VIGIL_EVENT_TYPE_MAX - 1;
		if (judged && err)
			__sync_fetch_and_add(&s->judged_lost[type], 1);
		else if (judged)
			__sync_fetch_and_add(&s->judged_emitted[type], 1);
		else if (err)
			__sync_fetch_and_add(&s->lost[type], 1);
		else
			__sync_fetch_and_add(&s->emitted[type], 1);
	}
	return !err;
}

/* Set for an agent that judges only containers' workloads (`vigil-agent
 * run`): the opens, connects, capability uses and io_uring operations of
 * every other task (the host's, the container runtime's) end in the kernel,
 * counted, instead of costing a record userspace would discard. Exec, fork
 * and exit are not behaviour and always leave: the process table needs them. */
const volatile bool contained_only = false;

/* in_host_cgroup: the current task's cgroup is marked the host's and has
 * no container scope. Not inlined: its key would grow the stack of its
 * callers, which older verifiers (6.1) add to their callbacks'. */
static __noinline __attribute__((unused)) bool in_host_cgroup(void)
{
	__u64 cgroup = bpf_get_current_cgroup_id();

	return bpf_map_lookup_elem(&host_cgroups, &cgroup) &&
	       !bpf_map_lookup_elem(&container_scopes, &cgroup);
}

/* policy_unless_host is current_policy and, under contained_only,
 * in_host_cgroup (into *host), from one lookup of the task's cgroup: a
 * cgroup with a container scope is no host cgroup, so a profiled or
 * learned container's call pays for no lookup of host_cgroups. Not
 * inlined, as in_host_cgroup: the open handler calls it, whose stack older
 * verifiers (6.1) add to its path matcher's. */
static __noinline __attribute__((unused)) struct scope_policy *policy_unless_host(bool *host)
{
	__u64 cgroup = bpf_get_current_cgroup_id();
	__u32 *scope = bpf_map_lookup_elem(&container_scopes, &cgroup);

	*host = false;
	if (scope)
		return bpf_map_lookup_elem(&scope_policies, scope);
	*host = contained_only && bpf_map_lookup_elem(&host_cgroups, &cgroup);
	return NULL;
}

/* count_uncontained counts behaviour of this type that ended in the kernel
 * under contained_only (drop_uncontained), if should_trace would have let it
 * through, by the reason: the task runs no workload, or runs it in a host
 * cgroup (contained). */
static __always_inline void count_uncontained(struct task_struct *task, __u32 type, bool contained)
{
	struct sensor_stats *s = should_trace(task) ? get_stats() : NULL;

	if (!s)
		return;
	type &= VIGIL_EVENT_TYPE_MAX - 1;
	if (contained)
		__sync_fetch_and_add(&s->host_cgroup[type], 1);
	else
		__sync_fetch_and_add(&s->uncontained[type], 1);
}

/* drop_uncontained tells whether the current task's behaviour of this type
 * ends here under contained_only: a task that runs no workload, or one in a
 * cgroup attribution marked the host's that has no container scope. What
 * should_trace would have let through is counted, by the reason. */
static __always_inline bool drop_uncontained(struct task_struct *task, __u32 type)
{
	bool contained;

	if (!contained_only)
		return false;
	contained = task_contained(task);
	if (contained && !in_host_cgroup())
		return false;
	count_uncontained(task, type, contained);
	return true;
}

/* fd_file returns the struct file behind fd in task's descriptor table, or
 * NULL. task is a BTF pointer: the table is reached by plain loads; the
 * array of files, a pointer to pointers, is read by a helper. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	bpf_core_read(&file, sizeof(file), &fds[fd]);
	return file;
}

#endif /* VIGIL_COMMON_H */
