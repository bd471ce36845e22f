/* SPDX-License-Identifier: GPL-2.0 */
/* learn: while a container's image is learned, the learner needs each file
 * the container opens, with each access, and how often: not every open. An
 * open already reported within the window stays in the kernel and is
 * counted; the next report after the window carries the count. */
#ifndef VIGIL_SYS_EXIT_LEARN_H
#define VIGIL_SYS_EXIT_LEARN_H

#include "../lib/common.h"
#include "../lib/policy.h"

/* Set at load time; 0 reports every open. */
const volatile __u64 learn_window_ns = 0;

/* A file as one container opened it: by its path's dentry and mount (another
 * name of the same inode is news to the learner), and by inode and
 * generation, so a dentry reused for another file is not taken for it. */
struct learn_key {
	__u64 cgroup;
	__u64 dentry;
	__u64 mnt;
	__u64 ino;
	__u32 generation;
	__u8 access;
	__u8 pad[3];
};

struct learn_seen {
	__u64 reported; /* ktime of the last report */
	__u64 repeats;  /* opens since, kept in the kernel */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 15);
	__type(key, struct learn_key);
	__type(value, struct learn_seen);
} learn_seen SEC(".maps");

/* learning_policy is the current container's policy when repeats of hook
 * stay in the kernel and the task runs its workload, else NULL. */
static __always_inline struct scope_policy *learning_policy(__u32 hook, struct task_struct *task)
{
	struct scope_policy *pol;

	if (!learn_window_ns)
		return NULL;
	pol = current_policy();
	if (!pol || !(pol->collapse & hook) || !task_contained(task))
		return NULL;
	return pol;
}

/* open_repeated tells whether this open of file with access was reported
 * within the window: it is then counted and stays in the kernel. Otherwise
 * the open is to be reported, with *repeats the opens counted since the
 * last report. An entry the LRU evicts only makes the next open news. */
static __always_inline bool open_repeated(struct file *file, __u8 access, __u32 *repeats)
{
	struct learn_key k = {
		.cgroup = bpf_get_current_cgroup_id(),
		.dentry = (__u64)BPF_CORE_READ(file, f_path.dentry),
		.mnt = (__u64)BPF_CORE_READ(file, f_path.mnt),
		.access = access,
	};
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	__u64 now = bpf_ktime_get_ns();
	struct learn_seen *seen, fresh = { .reported = now };
	__u64 n;

	k.ino = BPF_CORE_READ(inode, i_ino);
	k.generation = BPF_CORE_READ(inode, i_generation);
	seen = bpf_map_lookup_elem(&learn_seen, &k);
	if (!seen) {
		bpf_map_update_elem(&learn_seen, &k, &fresh, BPF_ANY);
		return false;
	}
	if (now - seen->reported < learn_window_ns) {
		__sync_fetch_and_add(&seen->repeats, 1);
		return true;
	}
	/* Take what was counted; opens counted meanwhile stay for the next. */
	n = seen->repeats;
	__sync_fetch_and_add(&seen->repeats, -n);
	seen->reported = now;
	*repeats = n > 0xffffffff ? 0xffffffff : n;
	return false;
}

#endif
