/* SPDX-License-Identifier: GPL-2.0 */
/* learn: while a container's image is learned, the learner needs each file
 * the container opens, with each access, each inet destination it connects
 * to and each capability it uses, and how often: not every event. An object reported within the window stays in
 * the kernel and is counted; the next report after the window carries the
 * count. An object is taken as reported only once its record is in the ring
 * buffer, and userspace makes every object news again (learn_epoch) when
 * records were lost after that. */
#ifndef VIGIL_LEARN_H
#define VIGIL_LEARN_H

#include "common.h"
#include "policy.h"

/* Set at load time; 0 reports every event. */
const volatile __u64 learn_window_ns = 0;

/* A file as one container opened it, by what makes its path: its dentry,
 * the dentry's name and parent (a rename keeps the dentry), and the mount
 * (another name of the same inode is news to the learner); and by inode and
 * generation, so a dentry reused for another file is not taken for it. A
 * rename of a directory above the file is not seen: the file's path changes
 * under the same key until the window passes. */
struct learn_open_key {
	__u64 cgroup;
	__u64 dentry;
	__u64 parent;
	__u64 name; /* d_name.hash_len */
	__u64 mnt;
	__u64 ino;
	__u32 generation;
	__u8 access;
	__u8 pad[3];
};

/* A capability as one container used it (granted or refused: the learner
 * takes both for the capability). */
struct learn_cap_key {
	__u64 cgroup;
	__u32 cap;
	__u32 pad;
};

/* An inet destination as one container connected to it (the learner takes
 * refused and pending connects too). */
struct learn_connect_key {
	__u64 cgroup;
	__u8 addr[16];
	__u16 family;
	__u16 port;
	__u16 protocol;
	__u16 pad;
};

struct learn_seen {
	__u64 reported; /* ktime of the last report */
	__u64 repeats;  /* events since, kept in the kernel */
	__u64 epoch;    /* learn_epoch at the last report */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 15);
	__type(key, struct learn_open_key);
	__type(value, struct learn_seen);
} learn_opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 12);
	__type(key, struct learn_cap_key);
	__type(value, struct learn_seen);
} learn_caps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, struct learn_connect_key);
	__type(value, struct learn_seen);
} learn_connects SEC(".maps");

/* Bumped by userspace when records were lost: reports it cannot be sure
 * the learner got no longer hold back repeats. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} learn_epoch SEC(".maps");

static __always_inline __u64 current_learn_epoch(void)
{
	__u32 zero = 0;
	__u64 *epoch = bpf_map_lookup_elem(&learn_epoch, &zero);

	return epoch ? *epoch : 0;
}

/* learns tells whether pol, a container's policy or NULL, keeps the repeats
 * of hook's events by task, which runs its workload, in the kernel. */
static __always_inline bool learns(struct scope_policy *pol, __u32 hook, struct task_struct *task)
{
	return learn_window_ns && pol && (pol->collapse & hook) && task_contained(task);
}

static __always_inline void learn_open_key(struct learn_open_key *k, struct file *file, __u8 access)
{
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	k->cgroup = bpf_get_current_cgroup_id();
	k->dentry = (__u64)dentry;
	k->parent = (__u64)BPF_CORE_READ(dentry, d_parent);
	k->name = BPF_CORE_READ(dentry, d_name.hash_len);
	k->mnt = (__u64)BPF_CORE_READ(file, f_path.mnt);
	k->ino = BPF_CORE_READ(inode, i_ino);
	k->generation = BPF_CORE_READ(inode, i_generation);
	k->access = access;
}

/* learn_repeated tells whether the event keyed k in seen_map (learn_opens,
 * learn_connects or learn_caps) repeats one reported within the window: it is then counted
 * and stays in the kernel. Otherwise the event is to be reported, carrying
 * *repeats, the events counted since the last report. */
static __always_inline bool learn_repeated(void *seen_map, const void *k, __u32 *repeats)
{
	struct learn_seen *seen = bpf_map_lookup_elem(seen_map, k);

	if (!seen)
		return false;
	if (seen->epoch == current_learn_epoch() && bpf_ktime_get_ns() - seen->reported < learn_window_ns) {
		__sync_fetch_and_add(&seen->repeats, 1);
		return true;
	}
	*repeats = seen->repeats > 0xffffffff ? 0xffffffff : seen->repeats;
	return false;
}

/* learn_reported notes that the report of the event keyed k, carrying
 * repeats, is in the ring buffer: the next events are its repeats. Events
 * counted meanwhile stay for the next report. An entry the LRU evicts takes
 * its count along, and makes the next event news. */
static __always_inline void learn_reported(void *seen_map, const void *k, __u32 repeats)
{
	struct learn_seen *seen = bpf_map_lookup_elem(seen_map, k);
	struct learn_seen fresh = { .reported = bpf_ktime_get_ns(), .epoch = current_learn_epoch() };

	if (!seen) {
		bpf_map_update_elem(seen_map, k, &fresh, BPF_ANY);
		return;
	}
	__sync_fetch_and_add(&seen->repeats, -(__u64)repeats);
	seen->reported = fresh.reported;
	seen->epoch = fresh.epoch;
}

#endif
