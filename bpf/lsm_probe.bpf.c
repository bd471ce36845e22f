// SPDX-License-Identifier: GPL-2.0
/* Never attached: loading it tells whether this kernel runs BPF LSM
 * programs (built with CONFIG_BPF_LSM, "bpf" in lsm=, trampolines allowed). */
#include "lib/common.h"

SEC("lsm/bprm_check_security")
int BPF_PROG(probe_lsm, struct linux_binprm *bprm)
{
	return 0;
}
