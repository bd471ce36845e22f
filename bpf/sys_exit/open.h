/* SPDX-License-Identifier: GPL-2.0 */
/* open: every open, openat, openat2 and creat, with the opened file's resolved
 * path, or for a failed open the directory and the name the caller passed. */
#ifndef VIGIL_SYS_EXIT_OPEN_H
#define VIGIL_SYS_EXIT_OPEN_H

#include "../lib/common.h"
#include "../lib/path.h"
#include "../lib/syscall.h"
#include "../lib/policy.h"
#include "../lib/match.h"
#include "../lib/learn.h"
#include "../lib/image.h"
#include "../lib/fileid.h"
#include "../lib/guard.h"

#define AT_FDCWD -100
#define O_ACCMODE 03
#define O_RDONLY 00
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_PATH 010000000
#define FMODE_CREATED 0x100000 /* include/linux/fs.h, since 4.19 */
#define EACCES 13
#define EPERM 1
/* Beside the access bits: the file is image content. Part of the keys of
 * known and learned opens, so that a file changed since (copied up) is news
 * again; kept with the access bits, as the handler's stack has no room for
 * another variable on older verifiers. */
#define ACCESS_IMAGE 4
/* Likewise: the file's identity does not tell it from others
 * (file_id_unique), so no known open may stand for it. */
#define ACCESS_ID_SHARED 8
#define ACCESS_BITS 3

/* access is the profile access bits an open asks for (pkg/policy's rule). */
static __always_inline __u8 access(__u64 flags)
{
	__u64 acc = flags & O_ACCMODE;
	__u8 a = 0;

	if (acc == O_RDONLY || acc == O_RDWR)
		a |= 1;
	if (acc == O_WRONLY || acc == O_RDWR || (flags & (O_CREAT | O_TRUNC)))
		a |= 2;
	return a;
}

static __always_inline void known_key(struct known_open *k, struct scope_policy *pol, struct inode *inode, __u8 access)
{
	k->profile = pol->profile;
	k->access = access;
	file_id(inode, &k->dev, &k->ino, &k->generation);
}

/* open_file reads what the open handler needs of an opened file's inode at
 * once: whether it is image content (image_content: ACCESS_IMAGE), whether
 * its identity is its own (file_id_unique: else ACCESS_ID_SHARED), and that
 * identity (file_id) into *dev, *ino and *generation, a key's own fields,
 * unless NULL (dev alone may be). These ask the same questions of the inode
 * (its super block's magic, its upper dentry), and each read of a kernel
 * pointer is a helper call: asked apart, a judged open paid for each twice.
 * Not inlined, as image_content: its reads would grow the stack of the
 * handler, which older verifiers (6.1) add to its path matcher's. */
static __noinline __attribute__((unused)) __u8 open_file(struct task_struct *task, struct file *file, __u32 *dev,
							 __u64 *ino, __u32 *generation)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct super_block *sb = BPF_CORE_READ(inode, i_sb);
	struct dentry *upper = NULL;
	bool on_ovl = BPF_CORE_READ(sb, s_magic) == OVERLAYFS_SUPER_MAGIC;
	__u8 facts = 0;

	if (overlay_types() && on_ovl) {
		struct ovl_inode *oi = (void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode);

		upper = BPF_CORE_READ(oi, __upperdentry);
		if (!upper && BPF_CORE_READ(file, f_path.mnt) == task->fs->root.mnt)
			facts = ACCESS_IMAGE;
	} else if (on_ovl) {
		facts = ACCESS_ID_SHARED;
	}
	if (ino && generation) {
		struct inode *id = inode;

		if (upper) {
			id = BPF_CORE_READ(upper, d_inode);
			sb = BPF_CORE_READ(id, i_sb);
		}
		if (dev)
			BPF_CORE_READ_INTO(dev, sb, s_dev);
		BPF_CORE_READ_INTO(ino, id, i_ino);
		BPF_CORE_READ_INTO(generation, id, i_generation);
	}
	return facts;
}

/* relative_dir returns the directory a relative name passed with dirfd is resolved against. */
static __always_inline const struct path *relative_dir(struct task_struct *task, int dirfd)
{
	struct file *dir;

	if (dirfd == AT_FDCWD)
		return &BPF_CORE_READ(task, fs)->pwd;
	dir = fd_file(task, dirfd);
	return dir ? &dir->f_path : NULL;
}

/* on_open handles the exit of an open-family call (sc->nr <= NR_OPENAT2). */
static __always_inline void on_open(struct syscall *sc, long ret)
{
	struct task_struct *task;
	struct scratch *s;
	struct open_event *ev;
	struct scope_policy *scope = NULL, *pol = NULL;
	/* The key of a profiled container's known opens (pol) or of a learned
	 * one's opens (learning), never both: one place on a stack that older
	 * verifiers (6.1) add to the path matcher's, and which has no room for
	 * both beside the handler's other variables. */
	union {
		struct learn_open_key learned;
		struct known_open known;
	} key = {};
	bool learning = false, emitted = false, guarded;
	struct file *file = NULL;
	const struct path *p = NULL;
	const char *name = NULL;
	int dirfd = AT_FDCWD;
	__u64 flags = 0;
	__u32 plen = 0, nlen = 0, repeats = 0;
	bool denied, host;
	char *data;
	__u8 acc;

	/* drop_uncontained, with the task's cgroup looked up once for it and
	 * for the policy. */
	task = bpf_get_current_task_btf();
	if (contained_only && !task_contained(task)) {
		count_uncontained(task, VIGIL_EVENT_OPEN, false);
		return;
	}
	scope = policy_unless_host(&host);
	if (host) {
		count_uncontained(task, VIGIL_EVENT_OPEN, true);
		return;
	}
	if (!should_trace(task))
		return;

	switch (sc->nr) {
	case NR_OPEN:
		name = (const char *)sc->arg[0];
		flags = sc->arg[1];
		break;
	case NR_CREAT:
		name = (const char *)sc->arg[0];
		flags = O_CREAT | O_WRONLY | O_TRUNC;
		break;
	case NR_OPENAT:
		dirfd = sc->arg[0];
		name = (const char *)sc->arg[1];
		flags = sc->arg[2];
		break;
	default: /* openat2: flags are the first field of struct open_how */
		dirfd = sc->arg[0];
		name = (const char *)sc->arg[1];
		bpf_probe_read_user(&flags, sizeof(flags), (void *)sc->arg[2]);
		break;
	}
	acc = access(flags);
	denied = ret < 0 && take_denied(VIGIL_EVENT_OPEN);
	if (ret >= 0)
		file = fd_file(task, ret);

	/* In a profiled or learned container only news leaves the kernel,
	 * decided before any work: a failed lookup or an O_PATH open is nothing
	 * a profile judges or the learner takes (an O_PATH open must not stand
	 * for the reads that follow); a file already allowed with this access
	 * (by inode) is known; a repeat of a file reported to the learner is
	 * counted. */
	if (denied)
		scope = NULL;
	if (suppresses(scope, VIGIL_ENFORCE_OPEN, task))
		pol = scope;
	else
		learning = learns(scope, VIGIL_ENFORCE_OPEN, task);
	if ((pol || learning) && ((ret < 0 && ret != -EACCES && ret != -EPERM) || (flags & O_PATH)))
		return;
	/* The file's identity keys the known and learned opens. */
	if (file && pol)
		acc |= open_file(task, file, &key.known.dev, &key.known.ino, &key.known.generation);
	else if (file && learning)
		acc |= open_file(task, file, NULL, &key.learned.ino, &key.learned.generation);
	else if (file)
		acc |= open_file(task, file, NULL, NULL, NULL);
	if (pol && file) {
		key.known.profile = pol->profile;
		key.known.access = acc;
		if (!(acc & ACCESS_ID_SHARED) && bpf_map_lookup_elem(&known_opens, &key.known))
			return;
	}
	learning = learning && file;
	/* The open guard judges this open too, at this exit (guard.h): one it
	 * kills it reports, before or after this handler runs. */
	guarded = file && !(flags & O_PATH) && open_guarded && guards(scope, task);
	if (learning) {
		learn_open_key(&key.learned, file, acc);
		if (!learn_news(&learn_opens, &key.learned, &repeats))
			return;
	}

	s = get_scratch();
	if (!s)
		goto settle;
	ev = (void *)s->event;
	data = s->event + sizeof(*ev);
	fill_header(&ev->hdr, VIGIL_EVENT_OPEN, task);
	if (sc->compat)
		ev->hdr.flags |= VIGIL_F_COMPAT_SYSCALL;
	if (denied)
		ev->hdr.flags |= VIGIL_F_DENIED;
	if (acc & ACCESS_IMAGE)
		ev->hdr.flags |= VIGIL_F_IMAGE;
	ev->ret = ret;
	ev->repeats = repeats;
	ev->open_flags = flags;
	ev->ino = 0;
	ev->dev = 0;

	/* One call site for the path walk: the verifier explores it once. */
	if (file) {
		struct inode *inode = BPF_CORE_READ(file, f_inode);

		ev->ino = BPF_CORE_READ(inode, i_ino);
		ev->dev = BPF_CORE_READ(inode, i_sb, s_dev);
		if (BPF_CORE_READ(file, f_mode) & FMODE_CREATED)
			ev->hdr.flags |= VIGIL_F_CREATED;
		p = &file->f_path;
	} else if (ret < 0) {
		char first = 0;

		ev->hdr.flags |= VIGIL_F_PATH_UNRESOLVED;
		bpf_probe_read_user(&first, 1, name);
		if (first != '/')
			p = relative_dir(task, dirfd);
	}
	if (p)
		plen = resolve_path(s, task, p, data, &ev->hdr.flags);
	if (plen > VIGIL_PATH_MAX)
		goto settle;
	if (ret < 0) {
		long n = bpf_probe_read_user_str(data + plen, VIGIL_PATH_MAX, name);

		nlen = n > 0 ? n - 1 : 0;
	}
	if (plen > VIGIL_PATH_MAX || nlen > VIGIL_PATH_MAX)
		goto settle;
	if (scope && file && (pol || guarded) && !(ev->hdr.flags & VIGIL_F_PATH_TRUNCATED) &&
	    path_allowed_from(s, sizeof(*ev), plen, scope->profile, VIGIL_LIST_FILES, acc & ACCESS_BITS, acc & ACCESS_IMAGE)) {
		__u8 one = 1;

		if (pol) {
			if (!(acc & ACCESS_ID_SHARED))
				bpf_map_update_elem(&known_opens, &key.known, &one, BPF_ANY);
			return;
		}
		guarded = false; /* allowed by a widened profile: userspace judges it exactly */
	}
	/* Killed at this exit by an open guard, or forbidden and guarded: the
	 * guard reports it. */
	if (guarded || being_killed(task))
		goto settle;
	ev->path_len = plen;
	ev->name_len = nlen;
	emitted = emit(ev, sizeof(*ev) + plen + nlen, VIGIL_EVENT_OPEN);
settle:
	if (learning)
		learn_settle(&learn_opens, &key.learned, repeats, emitted);
}

#endif /* VIGIL_SYS_EXIT_OPEN_H */
