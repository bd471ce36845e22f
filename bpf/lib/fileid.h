/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which file an inode is, for the kernel's caches keyed by file. An inode
 * number is not a file: ext4 gives a deleted file's number to the next file
 * created near it, at once. The inode's generation tells the two apart
 * where the file system draws one per inode (ext4, xfs and tmpfs draw it at
 * random), but an overlayfs inode's generation is always 0: a container's
 * new file would pass for the deleted one. An overlay file in the
 * upper layer is its real upper inode there; a file only in the lower
 * layers cannot be deleted while the overlay is mounted (a delete is a
 * whiteout in the upper layer), so its overlay inode keeps its number.
 */
#ifndef VIGIL_FILEID_H
#define VIGIL_FILEID_H

#include "common.h"

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* overlay_types tells whether the programs know overlayfs's types: where
 * it is a module loaded after they were, they do not. */
#define overlay_types() bpf_core_field_exists(struct ovl_inode, __upperdentry)

/* file_id writes the file inode is into *dev (unless NULL), *ino and
 * *generation: a key's own fields, with no copy on a stack near its limit.
 * Without overlayfs's types an overlay file is its overlay inode. */
static __always_inline void file_id(struct inode *inode, __u32 *dev, __u64 *ino, __u32 *generation)
{
	struct super_block *sb = BPF_CORE_READ(inode, i_sb);

	if (overlay_types() && BPF_CORE_READ(sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode *oi = (void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode);
		struct dentry *upper = BPF_CORE_READ(oi, __upperdentry);

		if (upper) {
			inode = BPF_CORE_READ(upper, d_inode);
			sb = BPF_CORE_READ(inode, i_sb);
		}
	}
	if (dev)
		BPF_CORE_READ_INTO(dev, sb, s_dev);
	BPF_CORE_READ_INTO(ino, inode, i_ino);
	BPF_CORE_READ_INTO(generation, inode, i_generation);
}

/* file_id_unique tells whether file_id tells inode's file from any other:
 * not for an overlay file without overlayfs's types, which a file that took
 * its number would pass for. Asked again where needed rather than kept: a
 * flag kept across the path walk would cost the stack a slot it lacks. */
static __always_inline bool file_id_unique(struct inode *inode)
{
	return overlay_types() || BPF_CORE_READ(inode, i_sb, s_magic) != OVERLAYFS_SUPER_MAGIC;
}

#endif
