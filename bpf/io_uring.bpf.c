// SPDX-License-Identifier: GPL-2.0
/* io_uring: a task setting up a ring and the requests it submits, by
 * opcode. A request's own work (the file an OPENAT opens, the address a
 * CONNECT reaches) bypasses the system calls the other hooks watch, so
 * io_uring itself is behaviour a profile allows or not, an operation at a
 * time. There is no LSM hook for setting up a ring before Linux 6.15
 * (uring_allowed), so the signal tier enforces it on every kernel: a ring
 * set up against the profile has its process killed before io_uring_setup
 * returns, so the ring is never used; a request against it has its process
 * killed before io_uring_enter returns, the request itself already issued.
 * Requests an SQPOLL thread submits are the ring owner's: the thread is one
 * of its process, in its cgroup. Submissions come one per I/O, so every
 * report but a kill collapses by container, profile and operation, learned
 * or not (lib/learn.h): a monitored container's violation is reported once
 * a window, with its repeats. */
#include "lib/common.h"
#include "lib/policy.h"
#include "lib/learn.h"

/* io_uring_bit is op's bit in a profile's io_uring mask (0: none). */
static __always_inline __u64 io_uring_bit(__u32 op)
{
	if (op == VIGIL_IO_URING_SETUP)
		return 1ULL << VIGIL_IO_URING_SETUP_BIT;
	return op < VIGIL_IO_URING_SETUP_BIT ? 1ULL << op : 0;
}

/* io_uring_allowed: the container's profile (pol, or NULL) allows op. */
static __always_inline bool io_uring_allowed(struct scope_policy *pol, struct task_struct *task, __u32 op)
{
	__u64 *allowed;

	if (!pol || !(pol->enforce & VIGIL_ENFORCE_IO_URING) || !task_contained(task))
		return true;
	allowed = bpf_map_lookup_elem(&io_uring_rules, &pol->profile);
	return allowed && (*allowed & io_uring_bit(op));
}

/* known_io_uring: the container's profile (pol, or NULL) allows op and
 * keeps what it allows in the kernel: nothing to report. */
static __always_inline bool known_io_uring(struct scope_policy *pol, struct task_struct *task, __u32 op)
{
	__u64 *allowed;

	if (!suppresses(pol, VIGIL_ENFORCE_IO_URING, task))
		return false;
	allowed = bpf_map_lookup_elem(&io_uring_rules, &pol->profile);
	return allowed && (*allowed & io_uring_bit(op));
}

static __always_inline int io_uring_used(__u32 op)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_policy *pol;
	struct io_uring_event ev = {};
	struct learn_io_uring_key seen = {};
	bool killed = false, collapsed = false, emitted;
	__u32 repeats = 0;

	/* Before the kill: a task that does not run a workload is never judged. */
	if (drop_uncontained(task, VIGIL_EVENT_IO_URING))
		return 0;
	pol = current_policy();
	if (!io_uring_allowed(pol, task, op)) {
		bpf_send_signal(SIGKILL);
		count_enforced(VIGIL_EVENT_IO_URING, true);
		killed = true;
	}
	if (!killed) {
		if (!should_trace(task) || known_io_uring(pol, task, op))
			return 0;
		collapsed = learn_window_ns != 0;
		if (collapsed) {
			seen.cgroup = bpf_get_current_cgroup_id();
			seen.profile = pol ? pol->profile : 0;
			seen.op = op;
			if (!learn_news(&learn_io_urings, &seen, &repeats))
				return 0;
		}
	}
	fill_header(&ev.hdr, VIGIL_EVENT_IO_URING, task);
	ev.op = op;
	ev.repeats = repeats;
	if (killed)
		ev.hdr.flags |= VIGIL_F_KILLED;
	emitted = emit(&ev, sizeof(ev), VIGIL_EVENT_IO_URING);
	if (collapsed)
		learn_settle(&learn_io_urings, &seen, repeats, emitted);
	return 0;
}

SEC("tp_btf/io_uring_create")
int BPF_PROG(trace_io_uring_create, int fd, void *ring, __u32 sq_entries, __u32 cq_entries, __u32 flags)
{
	return io_uring_used(VIGIL_IO_URING_SETUP);
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(trace_io_uring_submit_req, struct io_kiocb *req)
{
	return io_uring_used(BPF_CORE_READ(req, opcode));
}
