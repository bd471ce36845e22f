// SPDX-License-Identifier: GPL-2.0
/* capable_fexit: the capability checks of capable.bpf.c, seen where the
 * kernel has BPF trampolines at the exit of cap_capable, the capability
 * module's check, which security_capable calls for every capable(),
 * ns_capable() and file_ns_capable(): on kernels older than the
 * cap_capable tracepoint too. Unlike the tracepoint it sees the check's
 * options, so a noaudit check (the kernel asking, not the task using) is
 * dropped, as BPF LSM drops it. Same handler (on_capable). */
#include "capable/on_capable.h"

#define CAP_OPT_NOAUDIT 0x2

SEC("fexit/cap_capable")
int BPF_PROG(capable_exit, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts, int ret)
{
	if (!(opts & CAP_OPT_NOAUDIT))
		on_capable(cred, cap, ret);
	return 0;
}
