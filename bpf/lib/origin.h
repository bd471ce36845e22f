/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where an executed file comes from: the image, or written after the
 * container started — on an overlayfs upper layer (the container's writable
 * layer), a memfd, or a file with no link left. Every exec hook judges the
 * same origin, so a file written, renamed or linked onto an allowed path is
 * not taken for the image's.
 */
#ifndef VIGIL_ORIGIN_H
#define VIGIL_ORIGIN_H

#include "image.h"

static __always_inline bool is_memfd(struct file *file)
{
	struct vfsmount *mnt = BPF_CORE_READ(file, f_path.mnt);
	const unsigned char *name = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	char prefix[6] = {};

	if (!(BPF_CORE_READ(mnt, mnt_flags) & MNT_INTERNAL))
		return false;
	bpf_probe_read_kernel(prefix, sizeof(prefix), name);
	return prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' &&
	       prefix[4] == 'd' && prefix[5] == ':';
}

/* origin_flags are the event flags that say how file came to be. */
static __always_inline __u32 origin_flags(struct file *file)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	__u32 flags = 0;

	if (BPF_CORE_READ(inode, i_nlink) == 0)
		flags |= VIGIL_F_DELETED;
	if (is_memfd(file))
		flags |= VIGIL_F_MEMFD;
	if (on_overlay_upper(inode))
		flags |= VIGIL_F_UPPER_LAYER;
	return flags;
}

static __always_inline bool written_at_runtime(__u32 flags)
{
	return flags & (VIGIL_F_DELETED | VIGIL_F_MEMFD | VIGIL_F_UPPER_LAYER);
}

/* exec_need is what an exec with these flags asks of an executables rule
 * to run as any applet. */
static __always_inline __u8 exec_need(__u32 flags)
{
	return written_at_runtime(flags) ? VIGIL_EXEC_WRITTEN : VIGIL_EXEC_IMAGE;
}

/* exec_need_some is what it asks to run as some applet at least. */
static __always_inline __u8 exec_need_some(__u32 flags)
{
	return written_at_runtime(flags) ? VIGIL_EXEC_WRITTEN_SOME : VIGIL_EXEC_IMAGE_SOME;
}

#endif /* VIGIL_ORIGIN_H */
