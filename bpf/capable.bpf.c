// SPDX-License-Identifier: GPL-2.0
/* capability: every capability check the kernel makes, granted or refused. */
#include "lib/common.h"

SEC("tp_btf/cap_capable")
int BPF_PROG(trace_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct capability_event ev = {};

	if (!should_trace(task))
		return 0;
	fill_header(&ev.hdr, VIGIL_EVENT_CAPABILITY, task);
	ev.cap = cap;
	ev.ret = ret;
	emit(&ev, sizeof(ev), VIGIL_EVENT_CAPABILITY);
	return 0;
}
