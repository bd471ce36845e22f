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
/* Bound of the argv reported (NUL-separated arguments, at most VIGIL_ARGV_MAX - 1
 * bytes); a longer one is flagged truncated. */
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
	VIGIL_EVENT_IO_URING = 7,
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
	/* the kernel killed the process for this (signal tier) */
	VIGIL_F_KILLED = 1 << 8,
	/* the kernel refused the operation (cgroup or LSM tier) */
	VIGIL_F_DENIED = 1 << 9,
	/* the task runs its container's workload (task_contained), not the
	 * runtime setting the container up */
	VIGIL_F_WORKLOAD = 1 << 10,
	/* the open created the file (FMODE_CREATED): it did not exist before */
	VIGIL_F_CREATED = 1 << 11,
	/* the opened file is content the image ships, unchanged: on the
	 * overlayfs root of the task, from a lower layer (not copied up) */
	VIGIL_F_IMAGE = 1 << 12,
};

/* Hooks a scope's profile is enforced on in the kernel. */
enum vigil_enforce {
	VIGIL_ENFORCE_EXEC = 1 << 0,
	VIGIL_ENFORCE_OPEN = 1 << 1,
	VIGIL_ENFORCE_CONNECT = 1 << 2,
	VIGIL_ENFORCE_CAPABILITY = 1 << 3,
	VIGIL_ENFORCE_IO_URING = 1 << 4,
};

/* What the kernel does for one container scope. */
struct scope_policy {
	__u32 profile; /* the compiled profile's id */
	__u32 enforce; /* enum vigil_enforce: hooks denied in the kernel */
	/* enum vigil_enforce: hooks whose allowed events stay in the kernel —
	 * only news (violations, learning data) reaches the ring buffer */
	__u32 suppress;
	/* enum vigil_enforce: hooks whose repeats stay in the kernel while the
	 * container's image is learned (see bpf/lib/learn.h) */
	__u32 collapse;
};

/* How a path rule matches: the hash is of the canonical path (volatile
 * components — digits, long hex ids, UUIDs — written "*"), of a directory
 * for its children ("dir/ *") or of a directory for its subtree ("dir/ **"),
 * or of a directory for the image content of its subtree (VIGIL_F_IMAGE
 * files only). A star prefix is not a rule but a directory whose next
 * component a pattern writes "*" (/usr/lib/postgresql of
 * /usr/lib/postgresql/ * /bin/postgres): from there the matcher also hashes
 * the path with that component as "*" (see bpf/lib/match.h); hash 0 marks
 * a list that has star prefixes at all. */
enum vigil_path_match {
	VIGIL_MATCH_EXACT = 1,
	VIGIL_MATCH_CHILDREN = 2,
	VIGIL_MATCH_SUBTREE = 3,
	VIGIL_MATCH_IMAGE_SUBTREE = 4,
	VIGIL_MATCH_STAR_PREFIX = 5,
};

enum vigil_path_list {
	VIGIL_LIST_EXEC = 1,
	VIGIL_LIST_FILES = 2,
	/* A multi-call binary's applets an entry allows: exact rules, hashed
	 * as the path with the applet as one more component (bpf/lib/applet.h). */
	VIGIL_LIST_APPLETS = 3,
	VIGIL_LIST_UNIX = 4, /* unix socket paths, matched as files are */
	VIGIL_LIST_ABSTRACT = 5, /* abstract unix socket names, "@name" hashed whole (exact) */
};

/* Access bits of an executables rule: the origins of the file it allows.
 * A rule of the image's file grants IMAGE; a rule that also allows a file
 * written after the container started (its writable layer, a memfd, a
 * deleted file) grants both. An exec asks for the bit of its own origin.
 * The _SOME bits say the same of a path allowed as some applets at least:
 * every rule of the path grants them, one allowing every applet the plain
 * bits too, and an applets rule the plain bits. */
enum vigil_exec_origin {
	VIGIL_EXEC_IMAGE = 1,
	VIGIL_EXEC_WRITTEN = 2,
	VIGIL_EXEC_IMAGE_SOME = 4,
	VIGIL_EXEC_WRITTEN_SOME = 8,
};

/* The longest applet name a rule can name. */
enum vigil_applet {
	VIGIL_APPLET_MAX = 64,
};

struct path_rule_key {
	__u32 profile;
	__u8 list; /* enum vigil_path_list */
	__u8 match; /* enum vigil_path_match */
	__u16 pad;
	__u64 hash;
};

/* A network rule, for an LPM trie: profile, port and protocol must match
 * whole (the first 64 bits); the address by its prefix. Port 0 is any. */
struct net_rule_key {
	__u32 prefixlen; /* 64 + address prefix bits */
	__u32 profile;
	__u16 port; /* host byte order */
	__u8 protocol; /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 pad;
	__u8 addr[16]; /* IPv6, or IPv4-mapped IPv6 */
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
	__u32 repeats; /* opens of the same file folded into this one while learning */
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
	__u16 pad;
	__u32 repeats; /* inet connects to the same destination folded into this one while learning */
};

struct capability_event {
	struct event_header hdr;
	__s32 cap;
	__s32 ret; /* 0 when granted, -errno when refused */
	__u32 repeats; /* uses of the same capability folded into this one while learning */
	__u32 pad;
};

/* io_uring operations: a request's opcode (IORING_OP_*, u8) or setting up
 * a ring. A profile's io_uring mask has a bit per opcode below 63 (Linux
 * 6.18 defines 0-62) and bit 63 for setting up a ring; a later opcode is
 * never allowed in the kernel. */
enum vigil_io_uring_op {
	VIGIL_IO_URING_SETUP = 255,
	VIGIL_IO_URING_SETUP_BIT = 63,
};

/* An io_uring operation of the task: a ring set up (io_uring_setup) or a
 * request submitted, by its opcode. */
struct io_uring_event {
	struct event_header hdr;
	__u32 op; /* IORING_OP_*, or VIGIL_IO_URING_SETUP */
	__u32 repeats; /* the same operation by the same container folded into this one */
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
	/* written to events, the ring buffer of everything not judged */
	__u64 emitted[VIGIL_EVENT_TYPE_MAX];
	/* events had no room: the event is lost */
	__u64 lost[VIGIL_EVENT_TYPE_MAX];
	/* the same of judged_events, the ring buffer of containers judged
	 * against a profile (monitor and enforce modes) */
	__u64 judged_emitted[VIGIL_EVENT_TYPE_MAX];
	__u64 judged_lost[VIGIL_EVENT_TYPE_MAX];
	__u64 path_truncated;
	/* enforcement: processes killed, operations denied */
	__u64 killed[VIGIL_EVENT_TYPE_MAX];
	__u64 denied[VIGIL_EVENT_TYPE_MAX];
	/* behaviour of tasks not running a container's workload, kept in the
	 * kernel for an agent that judges only workloads (contained_only) */
	__u64 uncontained[VIGIL_EVENT_TYPE_MAX];
	/* behaviour of workload-like tasks in cgroups userspace marked the
	 * host's (host_cgroups), kept in the kernel likewise */
	__u64 host_cgroup[VIGIL_EVENT_TYPE_MAX];
};

#endif /* VIGIL_H */
