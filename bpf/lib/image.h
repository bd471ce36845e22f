/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where a file comes from: the container's image, or the container's run
 * time. A container's root filesystem is an overlay whose lower layers are
 * the image; a file written there, or changed (copied up), has an upper
 * dentry. A volume, a tmpfs or /proc is another mount, never image content.
 */
#ifndef VIGIL_IMAGE_H
#define VIGIL_IMAGE_H

#include "common.h"

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

static __always_inline bool on_overlay(struct inode *inode)
{
	return bpf_core_type_exists(struct ovl_inode) && BPF_CORE_READ(inode, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC;
}

static __always_inline bool has_upper(struct inode *inode)
{
	struct ovl_inode *oi = (void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode);

	return BPF_CORE_READ(oi, __upperdentry) != NULL;
}

/* on_overlay_upper: the file lives on an overlayfs upper layer. */
static __always_inline bool on_overlay_upper(struct inode *inode)
{
	return on_overlay(inode) && has_upper(inode);
}

/* image_content: file is on task's root mount, an overlay, and comes from a
 * lower layer. Where the kernel lacks overlayfs's types, nothing is. Not
 * inlined: its reads would grow the stack of the open handler, which older
 * verifiers (6.1) add to its path matcher's (unused by the exec program). */
static __noinline __attribute__((unused)) bool image_content(struct task_struct *task, struct file *file)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	if (BPF_CORE_READ(file, f_path.mnt) != task->fs->root.mnt)
		return false;
	return on_overlay(inode) && !has_upper(inode);
}

#endif /* VIGIL_IMAGE_H */
