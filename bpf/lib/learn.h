/* SPDX-License-Identifier: GPL-2.0 */
/* learn: while a container's image is learned, the learner needs each file
 * the container opens, with each access, each inet destination it connects
 * to and each capability it uses, and how often: not every event. An object
 * reported within the window stays in the kernel and is counted; the next
 * report after the window carries the count. A report whose record cannot be
 * written leaves its object news, and userspace makes every object news
 * again (learn_epoch) when records were lost after the ring buffer. */
#ifndef VIGIL_LEARN_H
#define VIGIL_LEARN_H

#include "common.h"

/* Set at load time; 0 reports every event. */
const volatile __u64 learn_window_ns = 0;

/* A file as one container opened it, by what makes its path: its dentry,
 * the dentry's name and parent (a rename keeps the dentry), and the mount
 * (another name of the same inode is news to the learner); and by the
 * file's identity (fileid.h), so a dentry reused for another file is not
 * taken for it. A rename of a directory above the file is not seen: the
 * file's path changes under the same key until the window passes. */
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

/* An io_uring operation as one container used it, under the profile it
 * was judged by (0: none): reports collapse whatever the container's mode,
 * and a new profile makes every operation news again. */
struct learn_io_uring_key {
	__u64 cgroup;
	__u32 profile;
	__u32 op;
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
	__u64 reported; /* ktime of the last report; 0: news */
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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 12);
	__type(key, struct learn_io_uring_key);
	__type(value, struct learn_seen);
} learn_io_urings SEC(".maps");

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

/* learn_open_key keys file's open with access, all but the file's identity
 * (ino, generation: file_id), which the caller has read already. */
static __always_inline void learn_open_key(struct learn_open_key *k, struct file *file, __u8 access)
{
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);

	k->cgroup = bpf_get_current_cgroup_id();
	k->dentry = (__u64)dentry;
	k->parent = (__u64)BPF_CORE_READ(dentry, d_parent);
	k->name = BPF_CORE_READ(dentry, d_name.hash_len);
	k->mnt = (__u64)BPF_CORE_READ(file, f_path.mnt);
	k->access = access;
}

/* learn_news tells whether the event keyed k in seen_map (learn_opens,
 * learn_connects, learn_caps or learn_io_urings) is news to the learner: never reported, or
 * last reported before the window or the epoch. The event then claims the
 * report, and *repeats takes the events counted since the last one; events
 * racing it on other CPUs count as repeats, never as a second report of the
 * same count. Otherwise the event is counted and stays in the kernel. */
static __always_inline bool learn_news(void *seen_map, const void *k, __u32 *repeats)
{
	struct learn_seen *seen = bpf_map_lookup_elem(seen_map, k);
	__u64 now, epoch, last, n;

	*repeats = 0;
	if (!seen)
		return true;
	now = bpf_ktime_get_ns();
	epoch = current_learn_epoch();
	last = seen->reported;
	if ((last && seen->epoch == epoch && now - last < learn_window_ns) ||
	    __sync_val_compare_and_swap(&seen->reported, last, now) != last) {
		__sync_fetch_and_add(&seen->repeats, 1);
		return false;
	}
	seen->epoch = epoch;
	n = __sync_lock_test_and_set(&seen->repeats, 0);
	if (n > 0xffffffff) {
		__sync_fetch_and_add(&seen->repeats, n - 0xffffffff);
		n = 0xffffffff;
	}
	*repeats = n;
	return true;
}

/* learn_settle ends the report the event keyed k claimed: once its record
 * is in the ring buffer (emitted), a first report makes the entry the next
 * events are repeats of. A record that could not be written gives its count
 * back, itself included, and leaves the object news: the loss is counted,
 * and makes every object news again once userspace sees it. An entry the LRU
 * evicts takes its count along. */
static __always_inline void learn_settle(void *seen_map, const void *k, __u32 repeats, bool emitted)
{
	struct learn_seen fresh = { .reported = bpf_ktime_get_ns(), .epoch = current_learn_epoch() };
	struct learn_seen *seen;

	if (emitted) {
		bpf_map_update_elem(seen_map, k, &fresh, BPF_NOEXIST);
		return;
	}
	seen = bpf_map_lookup_elem(seen_map, k);
	if (!seen) {
		fresh.reported = 0;
		fresh.repeats = 1;
		bpf_map_update_elem(seen_map, k, &fresh, BPF_NOEXIST);
		return;
	}
	__sync_fetch_and_add(&seen->repeats, (__u64)repeats + 1);
	seen->reported = 0;
}

#endif
