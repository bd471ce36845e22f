/* SPDX-License-Identifier: GPL-2.0 */
/* on_capable: a capability check the kernel made (cred asked for cap, ret
 * its verdict), for learning, the monitor and the signal tier alike; the
 * handler of the cap_capable tracepoint and of fexit/cap_capable. */
#ifndef VIGIL_CAPABLE_ON_CAPABLE_H
#define VIGIL_CAPABLE_ON_CAPABLE_H

#include "../lib/common.h"
#include "../lib/policy.h"
#include "../lib/learn.h"
#include "../lib/capability.h"

/* capability_allowed: the container's profile (pol, or NULL) allows a
 * capability use that counts. When it does not, the signal tier kills the
 * task: the check happens inside the system call that needs it, which
 * completes; the task dies before it returns to user space. */
static __always_inline bool capability_allowed(struct scope_policy *pol, struct task_struct *task, int cap)
{
	__u64 *allowed;

	if (!pol || !(pol->enforce & VIGIL_ENFORCE_CAPABILITY) || !task_contained(task))
		return true;
	allowed = bpf_map_lookup_elem(&cap_rules, &pol->profile);
	return allowed && (*allowed & (1ULL << cap));
}

/* known_capability: the container's profile (pol, or NULL) allows cap and
 * keeps what it allows in the kernel: nothing to report. */
static __always_inline bool known_capability(struct scope_policy *pol, struct task_struct *task, int cap)
{
	__u64 *allowed;

	if (!suppresses(pol, VIGIL_ENFORCE_CAPABILITY, task))
		return false;
	allowed = bpf_map_lookup_elem(&cap_rules, &pol->profile);
	return allowed && (*allowed & (1ULL << cap));
}

static __always_inline void on_capable(const struct cred *cred, int cap, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_policy *pol;
	struct capability_event ev = {};
	struct learn_cap_key learned = {};
	bool killed = false, learning = false, emitted;
	__u32 repeats = 0;

	if (!capability_used(task, cred, cap, ret) || !capability_judged(cap))
		return;
	/* Before the kill: a task that does not run a workload is never judged. */
	if (drop_uncontained(task, VIGIL_EVENT_CAPABILITY))
		return;
	pol = current_policy();
	if (!capability_allowed(pol, task, cap)) {
		if (!kill_tier)
			return; /* BPF LSM refuses it next, and reports it; fmod_ret let a noaudit check by */
		bpf_send_signal(SIGKILL);
		count_enforced(VIGIL_EVENT_CAPABILITY, true);
		killed = true;
	}
	if (!killed) {
		if (!should_trace(task) || known_capability(pol, task, cap))
			return;
		learning = learns(pol, VIGIL_ENFORCE_CAPABILITY, task);
		if (learning) {
			learned.cgroup = bpf_get_current_cgroup_id();
			learned.cap = cap;
			if (!learn_news(&learn_caps, &learned, &repeats))
				return;
		}
	}
	fill_header(&ev.hdr, VIGIL_EVENT_CAPABILITY, task);
	ev.cap = cap;
	ev.ret = ret;
	ev.repeats = repeats;
	if (killed)
		ev.hdr.flags |= VIGIL_F_KILLED;
	emitted = emit(&ev, sizeof(ev), VIGIL_EVENT_CAPABILITY);
	if (learning)
		learn_settle(&learn_caps, &learned, repeats, emitted);
}

#endif
