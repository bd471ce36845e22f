// SPDX-License-Identifier: GPL-2.0
/* connect_fexit: the connects of sys_exit/connect.h, seen where the kernel
 * has BPF trampolines at the exit of __sys_connect, which connect(2) (native
 * and ia32) and the ia32 socketcall multiplexer go through: it runs on
 * connects only, where the sys_exit program runs on every system call of
 * the node. The arguments are the function's, which are the system call's,
 * so the record is the one sys_exit gives, from the same handler
 * (on_connect); socketcall's connects, which sys_exit does not decode, are
 * seen too. */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/fexit_check.h"
#include "sys_exit/connect.h"

SEC("fexit/__sys_connect")
int BPF_PROG(connect_exit, int fd, struct sockaddr *uservaddr, int addrlen, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscall sc = {
		.nr = NR_CONNECT,
		.compat = task->thread_info.status & TS_COMPAT,
		.arg = {fd, (unsigned long)uservaddr, addrlen},
	};

	if (checked(NR_CONNECT))
		return 0;
	on_connect(&sc, ret);
	return 0;
}
