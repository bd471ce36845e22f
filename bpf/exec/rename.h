/* SPDX-License-Identifier: GPL-2.0 */
/* rename: busybox runs its NOEXEC applets (ls, cp, rm, dd, awk, ip, insmod,
 * … in Debian's busybox-static, whose shell prefers applets) in a forked
 * child without an exec, after it names the child for the applet
 * (prctl(PR_SET_NAME)): no exec hook sees them. The applet is judged here,
 * at that rename, as an exec's applet is (exec.bpf.c), and reported as an
 * exec of the multi-call binary with the new name for argv — killed before
 * the applet runs when the container's profile does not allow it. */
#ifndef VIGIL_EXEC_RENAME_H
#define VIGIL_EXEC_RENAME_H

#include "../lib/common.h"
#include "../lib/path.h"
#include "../lib/match.h"
#include "../lib/origin.h"
#include "../lib/applet.h"

#define TASK_COMM_LEN 16

/* names_self reports whether the kernel string name starts with "busybox". */
static __always_inline bool names_self_at(const void *name)
{
	char got[APPLET_SELF_LEN] = {};
	const char self[] = APPLET_SELF;

	bpf_probe_read_kernel(got, sizeof(got), name);
	for (int k = 0; k < APPLET_SELF_LEN; k++)
		if (got[k] != self[k])
			return false;
	return true;
}

/* multi_call reports whether file is a multi-call binary: its name starts
 * with "busybox", as pkg/profile.MultiCall decides. */
static __always_inline bool multi_call(struct file *file)
{
	return names_self_at(BPF_CORE_READ(file, f_path.dentry, d_name.name));
}

/* judge_rename reports, and where enforced judges, the applet a process of
 * a multi-call binary names itself for; it returns whether it killed. */
static __always_inline bool judge_rename(struct task_struct *task, const char *comm, struct scope_policy *pol,
					 bool enforced, bool traced)
{
	struct file *file = BPF_CORE_READ(task, mm, exe_file);
	struct exec_event *ev;
	struct scratch *s;
	char *data;
	__u32 plen;
	long n;
	__u8 need;

	/* Named "busybox", the multi-call binary takes the applet from its
	 * next argument, which a rename does not tell. */
	if (!file || !multi_call(file) || names_self_at(comm))
		return false;
	s = get_scratch();
	if (!s)
		return false;
	ev = (void *)s->event;
	data = s->event + sizeof(*ev);
	fill_header(&ev->hdr, VIGIL_EVENT_EXEC, task);
	ev->hdr.flags |= origin_flags(file);
	ev->ino = BPF_CORE_READ(file, f_inode, i_ino);
	ev->dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	plen = resolve_path(s, task, &file->f_path, data, &ev->hdr.flags);
	if (plen > VIGIL_PATH_MAX)
		return false;
	n = bpf_probe_read_kernel_str(data + plen, TASK_COMM_LEN, comm);
	/* A name of TASK_COMM_LEN - 1 bytes may be an applet's cut short:
	 * it cannot be told, as an argv truncated is not. */
	if (n <= 1 || n >= TASK_COMM_LEN)
		return false;
	ev->path_len = plen;
	ev->filename_len = 0;
	ev->argc = 1;
	ev->argv_len = n;
	need = exec_need(ev->hdr.flags);
	if (enforced && !(ev->hdr.flags & VIGIL_F_PATH_TRUNCATED) &&
	    !path_allowed(s, sizeof(*ev), plen, pol->profile, VIGIL_LIST_EXEC, need) &&
	    !applet_allowed(s, sizeof(*ev) + plen, n, false, pol->profile, need)) {
		bpf_send_signal(SIGKILL);
		count_enforced(VIGIL_EVENT_EXEC, true);
		ev->hdr.flags |= VIGIL_F_KILLED;
	}
	if (traced || (ev->hdr.flags & VIGIL_F_KILLED))
		emit(ev, sizeof(*ev) + plen + n, VIGIL_EVENT_EXEC);
	return ev->hdr.flags & VIGIL_F_KILLED;
}

SEC("tp_btf/task_rename")
int BPF_PROG(trace_rename, struct task_struct *task, const char *comm)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct scope_policy *pol;
	bool contained, enforced, traced;

	/* A thread renamed by another (its /proc comm file) is left: the
	 * signal would reach the writer. An exec names the task for its file
	 * (/proc/self/exe: "exe"): the exec hook judges its argv. */
	if (task != current || BPF_CORE_READ_BITFIELD_PROBED(current, in_execve))
		return 0;
	contained = task_contained(current);
	pol = current_policy();
	enforced = contained && pol && (pol->enforce & VIGIL_ENFORCE_EXEC);
	traced = should_trace(current);
	if (enforced || traced)
		judge_rename(current, comm, pol, enforced, traced);
	return 0;
}

#endif /* VIGIL_EXEC_RENAME_H */
