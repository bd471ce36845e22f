/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Absolute paths without bpf_d_path (not allowed from tp_btf): walk the dentry
 * chain up to the task's root, crossing mount points, writing components
 * backwards into scratch. The walk is a bpf_loop callback; an open-coded loop
 * of this depth exceeds the verifier's instruction limit.
 */
#ifndef VIGIL_PATH_H
#define VIGIL_PATH_H

#include "common.h"


struct path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct mount *ns_root; /* the root mount of the task's mount namespace */
	/* s->path_off: the path so far is s->path[path_off, VIGIL_PATH_MAX);
	 * s->path_flags: WALK_TRUNCATED, WALK_DETACHED */
	struct scratch *s;
};

#define WALK_TRUNCATED 1
#define WALK_DETACHED 2 /* past a mount attached nowhere: follow dentries only */

static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
}

static long path_walk_step(__u64 index, void *ctx)
{
	/* Locals, not w->…: BPF_CORE_READ would record a relocation against
	 * struct path_walk, which the kernel does not have. */
	struct path_walk *w = ctx;
	struct scratch *s = w->s;
	struct dentry *d = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *parent;
	struct qstr name;
	__u32 len, off;

	if (!(s->path_flags & WALK_DETACHED) && d == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (up != mnt) {
			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			w->mnt = up;
			w->vfsmnt = &up->mnt;
			return 0;
		}
		if (mnt == w->ns_root || BPF_CORE_READ(vfsmnt, mnt_flags) & MNT_INTERNAL)
			return 1; /* the root of the namespace, or of a kernel-internal mount */
		/* A lazily unmounted mount: no path leads to it any more. Name the
		 * file by its place in its filesystem rather than by "/". */
		s->path_flags |= WALK_DETACHED;
	}
	/* A pseudo file (memfd, pipe…) has a dentry that is its own parent:
	 * its name is the whole path, as in /proc/<pid>/exe. */
	parent = BPF_CORE_READ(d, d_parent);
	if (parent == d && d == BPF_CORE_READ(d, d_sb, s_root))
		return 1; /* the root of a detached mount's filesystem */

	name = BPF_CORE_READ(d, d_name);
	len = name.len;
	if (len > VIGIL_NAME_MAX)
		len = VIGIL_NAME_MAX;
	if (len > 0) {
		off = s->path_off;
		if (off < len + 1) {
			s->path_flags |= WALK_TRUNCATED;
			return 1;
		}
		off -= len + 1;
		s->path_off = off;
		bpf_probe_read_kernel(s->path + ((off + 1) & PATH_MASK), len, name.name);
		s->path[off & PATH_MASK] = '/';
	}
	w->dentry = parent;
	return parent == d;
}

/*
 * resolve_path writes the absolute path of p from the root of the task's
 * mount namespace (so a container's files have container paths, and a
 * chroot cannot make one file pass for another), to dst
 * and returns its length (at most VIGIL_PATH_MAX). A path that does not fit
 * keeps its last components and sets VIGIL_F_PATH_TRUNCATED in *flags.
 */
static __always_inline __u32 resolve_path(struct scratch *s, struct task_struct *task,
					  const struct path *p, char *dst, __u32 *flags)
{
	struct path_walk w = { .s = s };
	__u32 len, off;
	long steps;

	bpf_core_read(&w.dentry, sizeof(w.dentry), &p->dentry);
	bpf_core_read(&w.vfsmnt, sizeof(w.vfsmnt), &p->mnt);
	if (!w.dentry || !w.vfsmnt)
		return 0;
	w.mnt = real_mount(w.vfsmnt);
	w.ns_root = BPF_CORE_READ(task, nsproxy, mnt_ns, root);
	s->path_off = VIGIL_PATH_MAX;
	s->path_flags = 0;

	steps = bpf_loop(VIGIL_PATH_MAX / 2, path_walk_step, &w, 0);
	if (steps >= VIGIL_PATH_MAX / 2)
		s->path_flags |= WALK_TRUNCATED;
	if (s->path_flags & WALK_DETACHED)
		*flags |= VIGIL_F_PATH_DETACHED;
	if (s->path_flags & WALK_TRUNCATED) {
		struct sensor_stats *st = get_stats();

		*flags |= VIGIL_F_PATH_TRUNCATED;
		if (st)
			__sync_fetch_and_add(&st->path_truncated, 1);
	}

	off = s->path_off;
	if (off >= VIGIL_PATH_MAX) {
		dst[0] = '/';
		return 1;
	}
	len = VIGIL_PATH_MAX - off;
	bpf_probe_read_kernel(dst, len, s->path + (off & PATH_MASK));
	return len;
}

#endif /* VIGIL_PATH_H */
