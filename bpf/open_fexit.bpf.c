// SPDX-License-Identifier: GPL-2.0
/* open_fexit: the opens of sys_exit/open.h, seen where the kernel has BPF
 * trampolines at the exit of do_sys_openat2, which every open, openat,
 * openat2 and creat (native and ia32) goes through and nothing else does:
 * it runs on opens only, where the sys_exit program runs on every system
 * call of the node. The call is decoded from the task's saved user
 * registers, as at sys_exit, so the record is the one sys_exit gives:
 * same flags as the caller passed, same handler (on_open). */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/fexit_check.h"
#include "sys_exit/open.h"

SEC("fexit/do_sys_openat2")
int BPF_PROG(open_exit, int dfd, const char *filename, struct open_how *how, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscall sc;

	decode_syscall((struct pt_regs *)bpf_task_pt_regs(task), &sc);
	if (checked(sc.nr))
		return 0;
	if (sc.nr <= NR_OPENAT2)
		on_open(&sc, ret);
	return 0;
}
