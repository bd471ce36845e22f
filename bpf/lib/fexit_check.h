/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The start-up self-check of a fexit program (pkg/internal/bpfobj's
 * fexitcheck.go). fexit runs only where a call reaches the function's
 * out-of-line copy: a kernel build that inlined it into some system call
 * would lose that call's events without a sign. So userspace makes each kind
 * of call from one thread, with check_tid set to that thread, and reads
 * check_seen, per kind, to learn which reached the program.
 */
#ifndef VIGIL_FEXIT_CHECK_H
#define VIGIL_FEXIT_CHECK_H

#include "common.h"
#include "syscall.h"

volatile __u32 check_tid = 0; /* the checking thread; 0 when no check runs */
__u32 check_seen[NR_OTHER] = {}; /* calls of the checking thread, per kind */

/* checked counts a call of the checking thread, and says so: its calls are
 * the check's own, never events. */
static __always_inline bool checked(enum syscall_nr nr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (check_tid == 0 || tid != check_tid)
		return false;
	if (nr < NR_OTHER)
		__sync_fetch_and_add(&check_seen[nr], 1);
	return true;
}

#endif /* VIGIL_FEXIT_CHECK_H */
