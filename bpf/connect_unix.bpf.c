// SPDX-License-Identifier: GPL-2.0
/* unix connect guard: a cgroup/connect_unix program (Linux 6.7+), attached
 * once at the cgroup2 root, that refuses (EPERM) a connect to a unix socket
 * from a container whose enforced profile does not allow its address. Every
 * other cgroup is let through untouched. Where it does not load, the
 * system-call exit kills instead (unix_kill_tier). */
#include "lib/common.h"
#include "lib/policy.h"
#include "lib/unix.h"

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define SUN_PATH_OFFSET 2 /* sizeof(sa_family_t) */

SEC("cgroup/connect_unix")
int guard_connect_unix(struct bpf_sock_addr *ctx)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);
	struct scope_policy *pol = current_policy();
	struct scratch *s;
	__u32 len;

	if (!pol || !(pol->enforce & VIGIL_ENFORCE_CONNECT))
		return 1;
	s = get_scratch();
	len = sa->uaddrlen;
	len = len > SUN_PATH_OFFSET ? len - SUN_PATH_OFFSET : 0;
	if (len > VIGIL_UNIX_PATH_MAX)
		len = VIGIL_UNIX_PATH_MAX;
	/* The address is the kernel's copy: what it connects to, not user
	 * memory another thread could change. */
	if (s && bpf_probe_read_kernel(s->event, len, (void *)sa->uaddr + SUN_PATH_OFFSET) == 0 &&
	    unix_allowed(s, len, pol->profile))
		return 1;
	note_denied(VIGIL_EVENT_CONNECT);
	return 0;
}
