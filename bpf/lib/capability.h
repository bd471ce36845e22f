/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which capability checks count as the workload using a capability: the one
 * rule that learning, the monitor's reports and enforcement all apply.
 */
#ifndef VIGIL_CAPABILITY_H
#define VIGIL_CAPABILITY_H

#include "common.h"

/* Capabilities whose checks the cap_capable tracepoint cannot judge, a bit
 * per number; set at load time by userspace. The kernel checks them without
 * auditing on paths every workload takes (CAP_SYS_ADMIN in
 * cap_vm_enough_memory on every mmap, CAP_SYS_PTRACE reading /proc, ...),
 * and the tracepoint is not told which checks are noaudit. */
const volatile __u64 cap_unjudged = 0;

/* capability_used: a check of cap on cred that returned ret is task using
 * the capability itself: granted (a refused check gave nothing), and on the
 * task's own credentials. Another's credentials (a file opener's, a
 * socket's) and credentials a kernel path swapped in (overlayfs checks the
 * lower layers with its mounter's) leave task->real_cred behind. Whether
 * the kernel would audit the check is each hook's to tell. */
static __always_inline bool capability_used(struct task_struct *task, const struct cred *cred, int cap, int ret)
{
	return ret == 0 && cap >= 0 && cap <= 63 && cred == task->real_cred;
}

/* capability_judged: the tracepoint's check of cap may be one the kernel
 * audits (cap is not in cap_unjudged). */
static __always_inline bool capability_judged(int cap)
{
	return !(cap_unjudged & (1ULL << (cap & 63)));
}

#endif
