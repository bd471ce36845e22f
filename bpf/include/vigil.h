/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records the kernel side of vigil writes to its ring buffer. Each struct is
 * defined here once; Go gets its mirror from `bpf2go -type`. A record is the
 * fixed struct followed by the variable-length strings its *_len fields count
 * (no NUL terminators), so a short path costs a short record.
 */
#ifndef VIGIL_H
#define VIGIL_H

#define VIGIL_COMM_LEN 16
/* Longest path reported; a longer one keeps its last components and is flagged truncated. */
#define VIGIL_PATH_MAX 4096
/* Longest argv reported (NUL-separated arguments); a longer one is flagged truncated. */
#define VIGIL_ARGV_MAX 2048
#define VIGIL_UNIX_PATH_MAX 108
#define VIGIL_NAME_MAX 255

enum vigil_event_type {
	VIGIL_EVENT_EXEC = 1,
	VIGIL_EVENT_OPEN = 2,
	VIGIL_EVENT_CONNECT = 3,
	VIGIL_EVENT_CAPABILITY = 4,
	VIGIL_EVENT_FORK = 5,
	VIGIL_EVENT_EXIT = 6,
	VIGIL_EVENT_TYPE_MAX = 8, /* array bound, a power of two */
};

enum vigil_event_flag {
	VIGIL_F_PATH_TRUNCATED = 1 << 0,
	VIGIL_F_ARGV_TRUNCATED = 1 << 1,
	VIGIL_F_MEMFD = 1 << 2,
	VIGIL_F_DELETED = 1 << 3,
	/* the file lives on an overlayfs upper layer: written after the container started */
	VIGIL_F_UPPER_LAYER = 1 << 4,
	/* the open failed: path is the directory the name was relative to, name is what the caller passed */
	VIGIL_F_PATH_UNRESOLVED = 1 << 5,
	/* a 32-bit (ia32) system call */
	VIGIL_F_COMPAT_SYSCALL = 1 << 6,
	/* the file is on a mount detached from every namespace (umount -l): the
	 * path is relative to the root of its filesystem */
	VIGIL_F_PATH_DETACHED = 1 << 7,
};

/* Which cgroups are traced, set at load time. */
enum vigil_cgroup_filter {
	CGROUP_FILTER_OFF = 0, /* every cgroup */
	CGROUP_FILTER_INCLUDE = 1, /* only listed cgroups and their descendants */
	CGROUP_FILTER_EXCLUDE = 2, /* every cgroup but listed ones and their descendants */
};

struct event_header {
	__u64 time_ns; /* CLOCK_BOOTTIME */
	__u64 cgroup_id; /* cgroup2 id of the task */
	__u32 type; /* enum vigil_event_type */
	__u32 flags; /* enum vigil_event_flag */
	__u32 pid; /* thread id (the kernel's pid) */
	__u32 tgid; /* process id */
	__u32 ppid; /* the real parent's process id */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 mntns;
	char comm[VIGIL_COMM_LEN];
};

/* Followed by path_len bytes of resolved path, filename_len bytes of the name
 * execve was given, argv_len bytes of NUL-separated argv. */
struct exec_event {
	struct event_header hdr;
	__u64 ino;
	__u32 dev; /* kernel dev_t: major << 20 | minor */
	__u32 argc;
	__u16 path_len;
	__u16 filename_len;
	__u16 argv_len;
};

/* Followed by path_len bytes of path, then name_len bytes of the name the
 * caller passed (only when the open failed: VIGIL_F_PATH_UNRESOLVED). */
struct open_event {
	struct event_header hdr;
	__u64 ino;
	__u32 dev;
	__s32 ret; /* fd or -errno */
	__u64 open_flags; /* O_* as passed by the caller */
	__u16 path_len;
	__u16 name_len;
};

/* Followed by path_len bytes of sun_path for AF_UNIX (abstract: leading NUL). */
struct connect_event {
	struct event_header hdr;
	__s32 ret;
	__u16 family;
	__u16 port; /* host byte order */
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
	__u16 protocol; /* IPPROTO_* of the socket */
	__u16 sock_type; /* SOCK_STREAM, SOCK_DGRAM, … */
	__u16 path_len;
};

struct capability_event {
	struct event_header hdr;
	__s32 cap;
	__s32 ret; /* 0 when granted, -errno when refused */
};

/* A new process (not a thread); the header describes the parent. */
struct fork_event {
	struct event_header hdr;
	__u64 child_cgroup_id;
	__u32 child_tgid;
};

/* The last thread of a process exited. */
struct exit_event {
	struct event_header hdr;
	__u32 exit_code; /* wait(2) status: code << 8 | signal */
};

/* Per-CPU counters; userspace sums them. */
struct sensor_stats {
	__u64 emitted[VIGIL_EVENT_TYPE_MAX];
	/* the ring buffer had no room: the event is lost */
	__u64 lost[VIGIL_EVENT_TYPE_MAX];
	__u64 path_truncated;
};

#endif /* VIGIL_H */
