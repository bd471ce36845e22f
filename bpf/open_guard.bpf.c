// SPDX-License-Identifier: GPL-2.0
/* open_guard: the signal tier for the opens of enforced containers while no
 * fanotify listener judges them (an agent restarting or crashed: the
 * listener dies with its agent and fails open). Pinned with the other
 * enforcing families, it outlives the agent: an open the profile does not
 * allow, which succeeded, kills its task at the system call's exit, before
 * it returns to user space, so the file is never read or written. It is
 * judged as the kernel judges an open for the monitor (by access, image
 * content), and reported killed on the judged ring. While a listener runs
 * it does nothing: the listener refused what the profile does not allow. */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/guard.h"
#include "sys_exit/open.h"

/* open_flags are the flags an open-family call asked for. */
static __always_inline __u64 open_flags(struct syscall *sc)
{
	__u64 flags = 0;

	switch (sc->nr) {
	case NR_OPEN:
		return sc->arg[1];
	case NR_CREAT:
		return O_CREAT | O_WRONLY | O_TRUNC;
	case NR_OPENAT:
		return sc->arg[2];
	default: /* openat2: flags are the first field of struct open_how */
		bpf_probe_read_user(&flags, sizeof(flags), (void *)sc->arg[2]);
		return flags;
	}
}

/* guard judges the open that returned fd and kills its task when the
 * profile pol does not allow it. */
static __always_inline void guard(struct task_struct *task, struct syscall *sc, long fd, struct scope_policy *pol)
{
	struct known_open known = {};
	struct open_event *ev;
	struct scratch *s;
	struct inode *inode;
	struct file *file;
	__u64 flags = open_flags(sc);
	__u32 plen;
	__u8 acc;

	file = fd_file(task, fd);
	if (!file || (flags & O_PATH))
		return;
	inode = BPF_CORE_READ(file, f_inode);
	acc = access(flags);
	if (image_content(task, file))
		acc |= ACCESS_IMAGE;
	known_key(&known, pol, inode, acc);
	if (file_id_unique(inode) && bpf_map_lookup_elem(&known_opens, &known))
		return;
	s = get_scratch();
	if (!s)
		return;
	ev = (void *)s->event;
	fill_header(&ev->hdr, VIGIL_EVENT_OPEN, task);
	if (sc->compat)
		ev->hdr.flags |= VIGIL_F_COMPAT_SYSCALL;
	if (acc & ACCESS_IMAGE)
		ev->hdr.flags |= VIGIL_F_IMAGE;
	if (BPF_CORE_READ(file, f_mode) & FMODE_CREATED)
		ev->hdr.flags |= VIGIL_F_CREATED;
	ev->ret = fd;
	ev->repeats = 0;
	ev->open_flags = flags;
	ev->ino = BPF_CORE_READ(inode, i_ino);
	ev->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	plen = resolve_path(s, task, &file->f_path, s->event + sizeof(*ev), &ev->hdr.flags);
	if (plen > VIGIL_PATH_MAX)
		return;
	/* A path too long to match cannot be allowed, as for an exec. */
	if (!(ev->hdr.flags & VIGIL_F_PATH_TRUNCATED) &&
	    path_allowed_from(s, sizeof(*ev), plen, pol->profile, VIGIL_LIST_FILES, acc & ACCESS_BITS, acc & ACCESS_IMAGE))
		return;
	bpf_send_signal(SIGKILL);
	count_enforced(VIGIL_EVENT_OPEN, true);
	ev->hdr.flags |= VIGIL_F_KILLED;
	ev->path_len = plen;
	ev->name_len = 0;
	emit(ev, sizeof(*ev) + plen, VIGIL_EVENT_OPEN);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(guard_opens, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct scope_policy *pol;
	struct syscall sc;

	/* Attached on every system call of the node: a call that is no open
	 * costs a test of its number, before anything is read. */
	if (ret < 0 || !followed(regs->orig_ax))
		return 0;
	decode_syscall(regs, &sc);
	/* The cheap tests first: this runs at every system call's exit. */
	if (sc.nr > NR_OPENAT2 || listener_alive())
		return 0;
	task = bpf_get_current_task_btf();
	pol = current_policy();
	if (!guards(pol, task) || being_killed(task))
		return 0;
	guard(task, &sc, ret, pol);
	return 0;
}
