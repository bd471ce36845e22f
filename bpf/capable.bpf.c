// SPDX-License-Identifier: GPL-2.0
/* capability: the capability checks that count as a task using a
 * capability (lib/capability.h), for learning, the monitor and the signal
 * tier alike; in profiled and learned containers, only news. A check that
 * does not count (refused, on borrowed credentials, or of a capability this
 * hook cannot judge) is dropped here: nothing reports it, trace included. */
#include "capable/on_capable.h"

SEC("tp_btf/cap_capable")
int BPF_PROG(trace_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	on_capable(cred, cap, ret);
	return 0;
}
