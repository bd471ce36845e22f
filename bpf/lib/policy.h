/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Profiles compiled into maps, and which tasks they apply to. Userspace
 * keeps container_scopes (cgroup → scope) and scope_policies (scope →
 * profile, hooks enforced, suppressed or collapsed; both in common.h, which
 * routes records by them) in sync with containerd,
 * the modes and the profiles; a task is only ever judged when its cgroup
 * maps to a scope enforcing that hook and it runs the container's workload
 * (contained), never the runtime setting it up.
 */
#ifndef VIGIL_POLICY_H
#define VIGIL_POLICY_H

#include "common.h"

#define SIGKILL 9
#define SIGSTOP 19

/* The rule maps are written by userspace only: allocated as they fill,
 * their memory follows the profiles loaded, not the limits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 18);
	__type(key, struct path_rule_key);
	__type(value, __u8); /* access bits for files; 1 for executables */
} path_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); /* profile */
	__type(value, __u64); /* allowed capabilities, bit per number */
} cap_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); /* profile */
	__type(value, __u64); /* allowed io_uring operations, bit per enum vigil_io_uring_op / opcode */
} io_uring_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 16);
	__type(key, struct net_rule_key);
	__type(value, __u8);
} net_rules SEC(".maps");

/* Scopes whose opens are enforced by userspace's fanotify listener while
 * their mounts are not marked yet: userspace sets an entry before it
 * enforces the scope and deletes it once the marks are in place. A workload
 * exec in such a scope is stopped (hold_for_marks) until then. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* scope */
	__type(value, __u8);
} marks_pending SEC(".maps");

/* Processes stopped for their scope's marks, for userspace to continue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, __u32); /* scope */
} held_tasks SEC(".maps");

/* suppresses tells whether pol, a container's policy or NULL, keeps the
 * allowed events of hook in the kernel for task, which runs its workload. */
static __always_inline bool suppresses(struct scope_policy *pol, __u32 hook, struct task_struct *task)
{
	return pol && (pol->suppress & hook) && task_contained(task);
}

static __always_inline void count_enforced(__u32 type, bool killed)
{
	struct sensor_stats *st = get_stats();

	if (!st)
		return;
	type &= VIGIL_EVENT_TYPE_MAX - 1;
	if (killed)
		__sync_fetch_and_add(&st->killed[type], 1);
	else
		__sync_fetch_and_add(&st->denied[type], 1);
}

/* Files a profile allowed to be opened, by inode: the next open of the same
 * file with the same access needs neither a path walk nor a match. Keyed by
 * the compiled profile, so a new profile version starts afresh, and by the
 * file's identity (fileid.h), so a new file that reused an inode number,
 * on overlayfs too, is not taken for the file. */
struct known_open {
	__u32 profile;
	__u32 dev;
	__u64 ino;
	__u32 generation;
	__u8 access;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, struct known_open);
	__type(value, __u8);
} known_opens SEC(".maps");

/* Operations an enforcement program refused, by task, for the sensor's
 * system-call exit to flag its event (the refusal happens first). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* pid_tgid */
	__type(value, __u8); /* enum vigil_event_type */
} ops_denied SEC(".maps");

static __always_inline void note_denied(__u8 type)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&ops_denied, &id, &type, BPF_ANY);
	count_enforced(type, false);
}

/* take_denied reports, once, whether the current task's last operation of
 * this type was refused by an enforcement program. */
static __always_inline bool take_denied(__u8 type)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u8 *t = bpf_map_lookup_elem(&ops_denied, &id);

	if (!t || *t != type)
		return false;
	bpf_map_delete_elem(&ops_denied, &id);
	return true;
}

/* The signal tier is off where BPF LSM programs deny instead; the exec
 * program still judges applets, which BPF LSM cannot (bpf/lib/applet.h). */
const volatile bool kill_tier = true;

/* Unix connects are killed for at the system call's exit where no
 * cgroup/connect_unix program refuses them (Linux before 6.7). */
const volatile bool unix_kill_tier = true;

#endif /* VIGIL_POLICY_H */
