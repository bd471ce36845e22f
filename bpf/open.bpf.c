// SPDX-License-Identifier: GPL-2.0
/* open: every open, openat, openat2 and creat, with the opened file's resolved
 * path, or for a failed open the directory and the name the caller passed. */
#include "lib/common.h"
#include "lib/path.h"
#include "lib/syscall.h"
#include "lib/policy.h" /* take_denied */

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000

/* relative_dir returns the directory a relative name passed with dirfd is resolved against. */
static __always_inline const struct path *relative_dir(struct task_struct *task, int dirfd)
{
	struct file *dir;

	if (dirfd == AT_FDCWD)
		return &BPF_CORE_READ(task, fs)->pwd;
	dir = fd_file(task, dirfd);
	return dir ? &dir->f_path : NULL;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(trace_open, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct syscall sc;
	struct scratch *s;
	struct open_event *ev;
	const char *name = NULL;
	int dirfd = AT_FDCWD;
	__u32 plen = 0, nlen = 0;
	char *data;

	decode_syscall(regs, &sc);
	if (sc.nr > NR_OPENAT2)
		return 0;
	task = bpf_get_current_task_btf();
	if (!should_trace(task))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	ev = (void *)s->event;
	data = s->event + sizeof(*ev);
	fill_header(&ev->hdr, VIGIL_EVENT_OPEN, task);
	if (sc.compat)
		ev->hdr.flags |= VIGIL_F_COMPAT_SYSCALL;
	ev->ret = ret;
	if (ret < 0 && take_denied(VIGIL_EVENT_OPEN))
		ev->hdr.flags |= VIGIL_F_DENIED;
	ev->ino = 0;
	ev->dev = 0;

	switch (sc.nr) {
	case NR_OPEN:
		name = (const char *)sc.arg[0];
		ev->open_flags = sc.arg[1];
		break;
	case NR_CREAT:
		name = (const char *)sc.arg[0];
		ev->open_flags = O_CREAT | O_WRONLY | O_TRUNC;
		break;
	case NR_OPENAT:
		dirfd = sc.arg[0];
		name = (const char *)sc.arg[1];
		ev->open_flags = sc.arg[2];
		break;
	default: /* openat2: flags are the first field of struct open_how */
		dirfd = sc.arg[0];
		name = (const char *)sc.arg[1];
		ev->open_flags = 0;
		bpf_probe_read_user(&ev->open_flags, sizeof(ev->open_flags), (void *)sc.arg[2]);
		break;
	}

	/* One call site for the path walk: the verifier explores it once. */
	const struct path *p = NULL;
	if (ret >= 0) {
		struct file *file = fd_file(task, ret);

		if (file) {
			struct inode *inode = BPF_CORE_READ(file, f_inode);

			ev->ino = BPF_CORE_READ(inode, i_ino);
			ev->dev = BPF_CORE_READ(inode, i_sb, s_dev);
			p = &file->f_path;
		}
	} else {
		char first = 0;

		ev->hdr.flags |= VIGIL_F_PATH_UNRESOLVED;
		bpf_probe_read_user(&first, 1, name);
		if (first != '/')
			p = relative_dir(task, dirfd);
	}
	if (p)
		plen = resolve_path(s, task, p, data, &ev->hdr.flags);
	if (plen > VIGIL_PATH_MAX)
		return 0;
	if (ret < 0) {
		long n = bpf_probe_read_user_str(data + plen, VIGIL_PATH_MAX, name);

		nlen = n > 0 ? n - 1 : 0;
	}
	if (plen > VIGIL_PATH_MAX || nlen > VIGIL_PATH_MAX)
		return 0;
	ev->path_len = plen;
	ev->name_len = nlen;
	emit(ev, sizeof(*ev) + plen + nlen, VIGIL_EVENT_OPEN);
	return 0;
}
