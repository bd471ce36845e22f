/* SPDX-License-Identifier: GPL-2.0 */
/* connect: every connect(2), IPv4, IPv6 and unix, with its result; in
 * profiled and learned containers, only news. */
#ifndef VIGIL_SYS_EXIT_CONNECT_H
#define VIGIL_SYS_EXIT_CONNECT_H

#include "../lib/common.h"
#include "../lib/syscall.h"
#include "../lib/policy.h" /* take_denied */
#include "../lib/learn.h"
#include "../lib/unix.h"
#include <bpf/bpf_endian.h>

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

struct connect_record {
	struct connect_event ev;
	char path[VIGIL_UNIX_PATH_MAX];
};

static __always_inline void read_socket(struct task_struct *task, int fd, struct connect_event *ev)
{
	struct file *file = fd_file(task, fd);
	struct socket *sock;

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(file, private_data);
	ev->sock_type = BPF_CORE_READ(sock, type);
	ev->protocol = BPF_CORE_READ(sock, sk, sk_protocol);
}

static __always_inline bool inet(struct connect_event *ev)
{
	return ev->family == AF_INET || ev->family == AF_INET6;
}

/* known_destination: the container's profile (pol, or NULL) allows this
 * inet connect and keeps what it allows in the kernel. */
static __always_inline bool known_destination(struct scope_policy *pol, struct task_struct *task,
					      struct connect_event *ev)
{
	struct net_rule_key key = {};

	if (!suppresses(pol, VIGIL_ENFORCE_CONNECT, task) || !inet(ev) || !ev->protocol || ev->protocol > 255)
		return false;
	key.prefixlen = 64 + 128;
	key.profile = pol->profile;
	key.port = ev->port;
	key.protocol = ev->protocol;
	if (ev->family == AF_INET) {
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], ev->addr, 4);
	} else {
		__builtin_memcpy(key.addr, ev->addr, 16);
	}
	if (bpf_map_lookup_elem(&net_rules, &key))
		return true;
	key.port = 0;
	return bpf_map_lookup_elem(&net_rules, &key) != NULL;
}

/* kill_unix kills the task, on the signal tier for unix connects, when its
 * container's enforced profile does not allow the unix socket it asked for
 * (sun_path, plen bytes): the connect has happened, the task dies before it
 * returns to user space. */
static __always_inline bool kill_unix(struct task_struct *task, const char *sun_path, __u32 plen)
{
	struct scope_policy *pol = current_policy();
	struct scratch *s;

	if (!unix_kill_tier || !pol || !(pol->enforce & VIGIL_ENFORCE_CONNECT) || !task_contained(task))
		return false;
	s = get_scratch();
	if (s) {
		__builtin_memcpy(s->event, sun_path, VIGIL_UNIX_PATH_MAX);
		if (unix_allowed(s, plen, pol->profile))
			return false;
	}
	bpf_send_signal(SIGKILL);
	count_enforced(VIGIL_EVENT_CONNECT, true);
	return true;
}

/* on_connect handles the exit of a connect (sc->nr == NR_CONNECT). */
static __always_inline void on_connect(struct syscall *sc, long ret)
{
	struct connect_record rec = {};
	struct connect_event *ev = &rec.ev;
	struct task_struct *task;
	struct scope_policy *pol;
	struct learn_connect_key learned = {};
	bool learning = false, emitted;
	void *uaddr;
	long addrlen;
	__u32 plen = 0, repeats = 0;

	task = bpf_get_current_task_btf();
	if (drop_uncontained(task, VIGIL_EVENT_CONNECT) || !should_trace(task))
		return;
	fill_header(&ev->hdr, VIGIL_EVENT_CONNECT, task);
	if (sc->compat)
		ev->hdr.flags |= VIGIL_F_COMPAT_SYSCALL;
	ev->ret = ret;
	if (ret < 0 && take_denied(VIGIL_EVENT_CONNECT))
		ev->hdr.flags |= VIGIL_F_DENIED;
	uaddr = (void *)sc->arg[1];
	addrlen = (int)sc->arg[2];
	read_socket(task, sc->arg[0], ev);

	bpf_probe_read_user(&ev->family, sizeof(ev->family), uaddr);
	switch (ev->family) {
	case AF_INET: {
		struct sockaddr_in sin = {};

		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		ev->port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(ev->addr, &sin.sin_addr, 4);
		break;
	}
	case AF_INET6: {
		struct sockaddr_in6 sin6 = {};

		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		ev->port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(ev->addr, &sin6.sin6_addr, 16);
		break;
	}
	case AF_UNIX:
		plen = addrlen > 2 ? addrlen - 2 : 0;
		if (plen > VIGIL_UNIX_PATH_MAX)
			plen = VIGIL_UNIX_PATH_MAX;
		if (bpf_probe_read_user(rec.path, plen, uaddr + 2))
			plen = 0;
		break;
	}
	ev->path_len = plen;
	if (ev->family == AF_UNIX && !(ev->hdr.flags & VIGIL_F_DENIED) && kill_unix(task, rec.path, plen))
		ev->hdr.flags |= VIGIL_F_KILLED;
	/* In a profiled or learned container only news leaves the kernel: an
	 * allowed destination is known; a repeat of an inet destination
	 * reported to the learner is counted (unix paths are each reported). */
	if (!(ev->hdr.flags & (VIGIL_F_DENIED | VIGIL_F_KILLED))) {
		pol = current_policy();
		if (known_destination(pol, task, ev))
			return;
		learning = inet(ev) && learns(pol, VIGIL_ENFORCE_CONNECT, task);
	}
	if (learning) {
		learned.cgroup = ev->hdr.cgroup_id;
		__builtin_memcpy(learned.addr, ev->addr, sizeof(learned.addr));
		learned.family = ev->family;
		learned.port = ev->port;
		learned.protocol = ev->protocol;
		if (!learn_news(&learn_connects, &learned, &repeats))
			return;
		ev->repeats = repeats;
	}
	emitted = emit(&rec, sizeof(rec.ev) + plen, VIGIL_EVENT_CONNECT);
	if (learning)
		learn_settle(&learn_connects, &learned, repeats, emitted);
}

#endif /* VIGIL_SYS_EXIT_CONNECT_H */
