// SPDX-License-Identifier: GPL-2.0
/* Attached for a moment to tell whether this kernel runs BPF LSM programs.
 * Loading is not enough: a kernel built with CONFIG_BPF_LSM loads and
 * attaches them even where "bpf" is not in lsm= (Ubuntu's), and then never
 * calls them. The probe counts its own process's getsid calls. */
#include "lib/common.h"

const volatile __u32 probe_tgid = 0;
__u32 probe_calls = 0;

SEC("lsm/task_getsid")
int BPF_PROG(probe_lsm, struct task_struct *p)
{
	if (bpf_get_current_pid_tgid() >> 32 == probe_tgid)
		__sync_fetch_and_add(&probe_calls, 1);
	return 0;
}
