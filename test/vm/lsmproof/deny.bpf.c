//go:build ignore
// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest tier-1 enforcement there is: one BPF LSM program per hook
 * vigil enforces, each denying one thing (an executable's inode, a file's
 * inode, a TCP/UDP port, a capability) with -EPERM, and only for tasks in the
 * cgroups of the scoped_cgroups map. The tests run it inside the test VM to
 * prove that such programs load, attach and deny on a kernel with BPF LSM.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1
#define AF_INET 2
#define AF_INET6 10

char LICENSE[] SEC("license") = "GPL";

/* What to deny, set at load time. Devices are the kernel's dev_t
 * (major << 20 | minor), as in super_block.s_dev. */
const volatile __u64 exec_dev = 0;
const volatile __u64 exec_ino = 0;
const volatile __u64 open_dev = 0;
const volatile __u64 open_ino = 0;
const volatile __u16 connect_port = 0;
const volatile __s32 denied_cap = -1;

/* Index of each hook's counter in denials. */
enum deny_hook {
	DENY_EXEC,
	DENY_OPEN,
	DENY_CONNECT,
	DENY_CAPABLE,
	DENY_HOOKS,
};
/* Puts the enum into BTF, for bpf2go to generate its Go constants. */
const enum deny_hook *unused_deny_hook __attribute__((unused));

/* cgroup id → anything: the tasks that enforcement applies to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} scoped_cgroups SEC(".maps");

/* Denials per hook, so that a test can tell its EPERM came from here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DENY_HOOKS);
	__type(key, __u32);
	__type(value, __u64);
} denials SEC(".maps");

static __always_inline bool in_scope(void)
{
	__u64 id = bpf_get_current_cgroup_id();

	return bpf_map_lookup_elem(&scoped_cgroups, &id) != NULL;
}

static __always_inline int deny(__u32 hook)
{
	__u64 *n = bpf_map_lookup_elem(&denials, &hook);

	if (n)
		__sync_fetch_and_add(n, 1);
	return -EPERM;
}

static __always_inline bool is_inode(struct file *file, __u64 dev, __u64 ino)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	return BPF_CORE_READ(inode, i_ino) == ino && BPF_CORE_READ(inode, i_sb, s_dev) == dev;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(deny_exec, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret; /* an earlier program already denied */
	if (!in_scope() || !is_inode(BPF_CORE_READ(bprm, file), exec_dev, exec_ino))
		return 0;
	return deny(DENY_EXEC);
}

SEC("lsm/file_open")
int BPF_PROG(deny_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	if (!in_scope() || !is_inode(file, open_dev, open_ino))
		return 0;
	return deny(DENY_OPEN);
}

SEC("lsm/socket_connect")
int BPF_PROG(deny_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	__u16 family, port;

	if (ret)
		return ret;
	if (!in_scope())
		return 0;
	family = BPF_CORE_READ(address, sa_family);
	/* sin_port and sin6_port sit at the same offset. */
	if (family == AF_INET)
		port = bpf_ntohs(BPF_CORE_READ((struct sockaddr_in *)address, sin_port));
	else if (family == AF_INET6)
		port = bpf_ntohs(BPF_CORE_READ((struct sockaddr_in6 *)address, sin6_port));
	else
		return 0;
	if (port != connect_port)
		return 0;
	return deny(DENY_CONNECT);
}

SEC("lsm/capable")
int BPF_PROG(deny_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts, int ret)
{
	if (ret)
		return ret;
	if (!in_scope() || cap != denied_cap)
		return 0;
	return deny(DENY_CAPABLE);
}
