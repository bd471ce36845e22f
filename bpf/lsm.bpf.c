// SPDX-License-Identifier: GPL-2.0
/*
 * Tier 1: BPF LSM programs deny, before the action, what an enforced
 * container's profile does not allow — with the same compiled profiles,
 * paths and scoping as the other tiers. Loaded only where the kernel runs
 * BPF LSM programs.
 */
#include "lib/common.h"
#include "lib/path.h"
#include "lib/match.h"
#include "lib/capability.h"
#include "lib/origin.h"
#include <bpf/bpf_endian.h>

#define EPERM 1
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20
#define __FMODE_EXEC 0x20 /* in f_flags: what exec opens with */
#define O_CREAT 0100
#define O_TRUNC 01000
#define CAP_OPT_NOAUDIT 0x2
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* enforced_policy is the policy of the current task's container when it
 * enforces hook and the task runs the container's workload. An exec is
 * judged when it happens outside the host's mount namespace: that exec is
 * what makes runc's init the container's program. */
static __always_inline struct scope_policy *enforced_policy(__u32 hook, struct task_struct *task, bool exec)
{
	struct scope_policy *pol = current_policy();

	if (!pol || !(pol->enforce & hook))
		return NULL;
	if (task_contained(task))
		return pol;
	if (exec && BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) != host_mntns)
		return pol;
	return NULL;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(lsm_exec, struct linux_binprm *bprm, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_policy *pol;
	struct scratch *s;
	struct exec_event *ev;
	struct file *file;
	char *data;
	__u32 plen, flen;
	long n;

	if (ret)
		return ret;
	pol = enforced_policy(VIGIL_ENFORCE_EXEC, task, true);
	if (!pol)
		return 0;
	/* A script is judged at its interpreter, as the sensor reports it. The
	 * applet a multi-call binary runs is judged once its argv is in place,
	 * at sched_process_exec (bpf/exec.bpf.c): here, that the path is
	 * allowed as some applet at least. */
	if (bprm->buf[0] == '#' && bprm->buf[1] == '!')
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	ev = (void *)s->event;
	data = s->event + sizeof(*ev);
	fill_header(&ev->hdr, VIGIL_EVENT_EXEC, task);
	file = bprm->file;
	ev->hdr.flags |= origin_flags(file);
	plen = resolve_path(s, task, &file->f_path, data, &ev->hdr.flags);
	if (plen > VIGIL_PATH_MAX)
		return 0;
	if (!(ev->hdr.flags & VIGIL_F_PATH_TRUNCATED) &&
	    path_allowed(s, sizeof(*ev), plen, pol->profile, VIGIL_LIST_EXEC, exec_need_some(ev->hdr.flags)))
		return 0;

	/* Refused: the exec never happens, so report it from here. */
	ev->hdr.flags |= VIGIL_F_DENIED;
	ev->ino = BPF_CORE_READ(file, f_inode, i_ino);
	ev->dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	ev->argc = bprm->argc;
	ev->path_len = plen;
	n = bpf_probe_read_kernel_str(data + plen, VIGIL_PATH_MAX, bprm->filename);
	flen = n > 0 ? n - 1 : 0;
	if (flen > VIGIL_PATH_MAX)
		flen = 0;
	ev->filename_len = flen;
	ev->argv_len = 0;
	count_enforced(VIGIL_EVENT_EXEC, false);
	emit(ev, sizeof(*ev) + plen + flen, VIGIL_EVENT_EXEC);
	return -EPERM;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_policy *pol;
	struct scratch *s;
	__u32 mode, len, flags = 0;
	__u8 need = 0;

	if (ret)
		return ret;
	mode = file->f_mode;
	/* An exec's own opens: judged by bprm_check_security. Some kernels
	 * (6.1, measured) mark them in f_flags only. */
	if ((mode & FMODE_EXEC) || (file->f_flags & __FMODE_EXEC))
		return 0;
	pol = enforced_policy(VIGIL_ENFORCE_OPEN, task, false);
	if (!pol)
		return 0;
	if (mode & FMODE_READ)
		need |= 1;
	if ((mode & FMODE_WRITE) || (file->f_flags & (O_TRUNC | O_CREAT)))
		need |= 2;
	if (!need)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	len = resolve_path(s, task, &file->f_path, s->event, &flags);
	/* From 6.6 overlayfs opens each file it serves a second time, on the
	 * layer's private mount, attached nowhere: that open is overlayfs's,
	 * the container's was judged on the overlay path. */
	if (flags & VIGIL_F_PATH_DETACHED)
		return 0;
	if (!(flags & VIGIL_F_PATH_TRUNCATED) &&
	    path_allowed_from(s, 0, len, pol->profile, VIGIL_LIST_FILES, need, image_content(task, file)))
		return 0;
	note_denied(VIGIL_EVENT_OPEN); /* the open's system-call exit reports it */
	return -EPERM;
}

SEC("lsm/socket_connect")
int BPF_PROG(lsm_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_policy *pol;
	struct net_rule_key key = {};
	__u16 family;

	if (ret)
		return ret;
	pol = enforced_policy(VIGIL_ENFORCE_CONNECT, task, false);
	if (!pol)
		return 0;
	family = address->sa_family;
	key.protocol = BPF_CORE_READ(sock, sk, sk_protocol);
	if ((family != AF_INET && family != AF_INET6) || (key.protocol != IPPROTO_TCP && key.protocol != IPPROTO_UDP))
		return 0; /* profiles describe tcp and udp; unix sockets are not enforced here */
	key.prefixlen = 64 + 128;
	key.profile = pol->profile;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)address;

		key.port = bpf_ntohs(BPF_CORE_READ(sin, sin_port));
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		bpf_probe_read_kernel(&key.addr[12], 4, &sin->sin_addr);
	} else {
		struct sockaddr_in6 *sin6 = (void *)address;

		key.port = bpf_ntohs(BPF_CORE_READ(sin6, sin6_port));
		bpf_probe_read_kernel(key.addr, 16, &sin6->sin6_addr);
	}
	if (bpf_map_lookup_elem(&net_rules, &key))
		return 0;
	key.port = 0;
	if (bpf_map_lookup_elem(&net_rules, &key))
		return 0;
	note_denied(VIGIL_EVENT_CONNECT);
	return -EPERM;
}

/* kernel_grants is the capability module's verdict on a check
 * (cap_capable): granted in the credentials' own user namespace when the
 * capability is effective there, and in a namespace below it that the
 * credentials' user owns. BPF LSM runs after the module granted; the same
 * program as fmod_ret on security_capable runs before it decides. */
static __always_inline bool kernel_grants(const struct cred *cred, struct user_namespace *ns, int cap)
{
	struct user_namespace *own = cred->user_ns;
	int own_level = BPF_CORE_READ(own, level);
	__u32 euid = cred->euid.val;
	__u64 effective = 0;

	for (int depth = 0; depth <= 32 && ns; depth++) { /* user namespaces nest 32 deep */
		if (ns == own) {
			/* 64 bits, as u64 val (6.3+) or u32 cap[2] (before) */
			bpf_probe_read_kernel(&effective, sizeof(effective), &cred->cap_effective);
			return effective & (1ULL << (cap & 63));
		}
		if (BPF_CORE_READ(ns, level) <= own_level)
			return false;
		if (BPF_CORE_READ(ns, parent) == own && BPF_CORE_READ(ns, owner.val) == euid)
			return true;
		ns = BPF_CORE_READ(ns, parent);
	}
	return false;
}

SEC("lsm/capable")
int BPF_PROG(lsm_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_policy *pol;
	struct capability_event ev = {};
	__u64 *allowed;

	if (ret)
		return ret;
	/* The task's own use (lib/capability.h), and one the kernel audits: a
	 * noaudit check is the kernel asking, not the task using (a ptrace or
	 * /proc access test, say). Refusing it would break the kernel. */
	if (!capability_used(task, cred, cap, ret) || (opts & CAP_OPT_NOAUDIT))
		return 0;
	pol = enforced_policy(VIGIL_ENFORCE_CAPABILITY, task, false);
	if (!pol)
		return 0;
	allowed = bpf_map_lookup_elem(&cap_rules, &pol->profile);
	if (allowed && (*allowed & (1ULL << cap)))
		return 0;
	if (!kernel_grants(cred, ns, cap))
		return 0; /* refused all the same: nothing was used */
	fill_header(&ev.hdr, VIGIL_EVENT_CAPABILITY, task);
	ev.hdr.flags |= VIGIL_F_DENIED;
	ev.cap = cap;
	ev.ret = -EPERM;
	count_enforced(VIGIL_EVENT_CAPABILITY, false);
	emit(&ev, sizeof(ev), VIGIL_EVENT_CAPABILITY);
	return -EPERM;
}
