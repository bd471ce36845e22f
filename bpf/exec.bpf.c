// SPDX-License-Identifier: GPL-2.0
/* exec: one event per successful execve/execveat, after the new image is in place. */
#include "lib/common.h"
#include "lib/path.h"
#include "lib/match.h"
#include "lib/origin.h"
#include "lib/applet.h"

/* mark_contained records that task now runs its container's workload when
 * it exec'd outside the host's mount namespace, and reports whether it does. */
static __always_inline bool mark_contained(struct task_struct *task)
{
	struct task_state *st = bpf_task_storage_get(&task_states, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!st)
		return task_contained(task);
	if (BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) != host_mntns)
		st->contained = 1;
	return st->contained;
}

/* enforce_exec kills the task when its container's profile does not allow
 * the executed file, from where it comes, as the applet its argv selects:
 * the signal lands before the new program's first instruction in user
 * space. A path too long to match cannot be allowed. Where BPF LSM refused
 * every other exec already, this judges applets, which it cannot: the new
 * argv is not in place at bprm_check_security. */
static __always_inline bool enforce_exec(struct scratch *s, struct scope_policy *pol, struct exec_event *ev)
{
	__u8 need = exec_need(ev->hdr.flags);
	__u32 argv = sizeof(*ev) + ev->path_len + ev->filename_len;

	if (!(ev->hdr.flags & VIGIL_F_PATH_TRUNCATED) &&
	    (path_allowed(s, sizeof(*ev), ev->path_len, pol->profile, VIGIL_LIST_EXEC, need) ||
	     applet_allowed(s, argv, ev->argv_len, ev->hdr.flags & VIGIL_F_ARGV_TRUNCATED, pol->profile, need)))
		return false;
	bpf_send_signal(SIGKILL);
	count_enforced(VIGIL_EVENT_EXEC, true);
	return true;
}

/* hold_for_marks stops the current task, before its new program's first
 * instruction, while its container's mounts are not yet marked for the
 * fanotify listener, and records it for userspace to continue once they
 * are. A task that cannot be recorded is not stopped: nothing would
 * continue it. */
static __always_inline void hold_for_marks(void)
{
	__u32 *scope = current_scope();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!scope || !bpf_map_lookup_elem(&marks_pending, scope))
		return;
	if (bpf_map_update_elem(&held_tasks, &tgid, scope, BPF_ANY))
		return;
	bpf_send_signal(SIGSTOP);
}

/* report_exec reports the exec and, on the signal tier, judges it; it
 * returns whether the task was killed. */
static __always_inline bool report_exec(struct task_struct *task, struct linux_binprm *bprm, bool contained)
{
	struct scratch *s;
	struct exec_event *ev;
	struct file *file;
	struct inode *inode;
	struct mm_struct *mm;
	const char *filename;
	char *data;
	unsigned long arg_start, arg_end;
	__u32 plen, flen, alen;
	long n;
	struct scope_policy *pol = current_policy();
	bool enforced = contained && pol && (pol->enforce & VIGIL_ENFORCE_EXEC);
	bool traced = should_trace(task);

	if (!traced && !enforced)
		return false;
	s = get_scratch();
	if (!s)
		return false;
	ev = (void *)s->event;
	data = s->event + sizeof(*ev);
	fill_header(&ev->hdr, VIGIL_EVENT_EXEC, task);

	file = BPF_CORE_READ(bprm, file);
	inode = BPF_CORE_READ(file, f_inode);
	ev->ino = BPF_CORE_READ(inode, i_ino);
	ev->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ev->argc = BPF_CORE_READ(bprm, argc);
	ev->hdr.flags |= origin_flags(file);

	plen = resolve_path(s, task, &file->f_path, data, &ev->hdr.flags);
	if (plen > VIGIL_PATH_MAX)
		return false;
	ev->path_len = plen;

	filename = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(data + plen, VIGIL_PATH_MAX, filename);
	flen = n > 0 ? n - 1 : 0;
	if (flen > VIGIL_PATH_MAX)
		return false;
	ev->filename_len = flen;

	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	alen = arg_end > arg_start ? arg_end - arg_start : 0;
	if (alen >= VIGIL_ARGV_MAX) {
		alen = VIGIL_ARGV_MAX - 1;
		ev->hdr.flags |= VIGIL_F_ARGV_TRUNCATED;
	}
	alen &= VIGIL_ARGV_MAX - 1; /* for the verifier: the bound survives spills */
	if (bpf_probe_read_user(data + plen + flen, alen, (void *)arg_start))
		alen = 0;
	ev->argv_len = alen;

	if (enforced && enforce_exec(s, pol, ev))
		ev->hdr.flags |= VIGIL_F_KILLED;
	if (traced || (ev->hdr.flags & VIGIL_F_KILLED))
		emit(ev, sizeof(*ev) + plen + flen + alen, VIGIL_EVENT_EXEC);
	return ev->hdr.flags & VIGIL_F_KILLED;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(trace_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	bool contained = mark_contained(task);

	if (!report_exec(task, bprm, contained) && contained)
		hold_for_marks();
	return 0;
}

#include "exec/rename.h"
