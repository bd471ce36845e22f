// SPDX-License-Identifier: GPL-2.0
/* process: fork and exit of whole processes, so userspace can keep a process
 * table and give every event its ancestry. Threads are not reported. */
#include "lib/common.h"

SEC("tp_btf/sched_process_fork")
int BPF_PROG(trace_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fork_event ev = {};
	struct task_state *st;
	bool contained = task_contained(parent);

	/* Every new task, threads too, inherits whether it runs the workload. */
	st = bpf_task_storage_get(&task_states, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (st)
		st->contained = contained;
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	if (!should_trace(parent))
		return 0;
	fill_header(&ev.hdr, VIGIL_EVENT_FORK, parent);
	ev.child_tgid = BPF_CORE_READ(child, tgid);
	ev.child_cgroup_id = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
	emit(&ev, sizeof(ev), VIGIL_EVENT_FORK);
	return 0;
}

/* Only the first argument: Linux 6.1 has no group_dead argument yet. The
 * group is dead when its live count, decremented before this tracepoint,
 * reached zero. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(trace_exit, struct task_struct *task)
{
	struct exit_event ev = {};

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (!should_trace(task))
		return 0;
	fill_header(&ev.hdr, VIGIL_EVENT_EXIT, task);
	ev.exit_code = BPF_CORE_READ(task, exit_code);
	emit(&ev, sizeof(ev), VIGIL_EVENT_EXIT);
	return 0;
}
