// SPDX-License-Identifier: GPL-2.0
/* sys_exit: the system calls vigil follows (open, openat, openat2, creat and
 * connect, native and ia32), from one program on the system-call exit
 * tracepoint. A program there runs on every system call of the node, so the
 * handlers share one: the call into BPF is paid once, not once per handler,
 * and a call nobody follows costs one test of its number. */
#include "lib/common.h"
#include "lib/syscall.h"
#include "sys_exit/open.h"
#include "sys_exit/connect.h"

/* Set at load time from the event types asked for; the verifier drops the
 * handler of a type not asked for. */
const volatile bool trace_opens = true;
const volatile bool trace_connects = true;

SEC("tp_btf/sys_exit")
int BPF_PROG(trace_sys_exit, struct pt_regs *regs, long ret)
{
	struct syscall sc;

	if (!followed(regs->orig_ax))
		return 0;
	decode_syscall(regs, &sc);
	if (sc.nr <= NR_OPENAT2) {
		if (trace_opens)
			on_open(&sc, ret);
	} else if (sc.nr == NR_CONNECT) {
		if (trace_connects)
			on_connect(&sc, ret);
	}
	return 0;
}
