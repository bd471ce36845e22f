package sensor

import (
	"slices"

	"golang.org/x/sys/unix"
)

// UnjudgedCapabilities are the capabilities whose checks the capability
// hook (the cap_capable tracepoint) leaves alone: the kernel checks them
// without auditing on paths every workload takes, and the tracepoint is not
// told which checks those are. A granted check of one is no evidence that
// the workload used it, so the kernel neither reports nor kills for them
// and the learner and the monitor never see them. Where each comes from:
//   - CAP_SYS_ADMIN: cap_vm_enough_memory on every private writable mmap,
//     brk and fork; seccomp filters; listing trusted xattrs (overlayfs);
//     the BPF JIT; landlock_restrict_self; listmount.
//   - CAP_SYS_PTRACE: /proc/<pid> files read with PTRACE_MODE_NOAUDIT (ps, top).
//   - CAP_NET_ADMIN: every /proc/sys/net file (net_ctl_permissions); vsock sockets.
//   - CAP_SYS_RESOURCE: writing /proc/<pid>/oom_score_adj.
//   - CAP_IPC_LOCK: io_uring_setup.
//   - CAP_SYSLOG: kernel addresses in /proc/kallsyms, /proc/modules and the like.
var UnjudgedCapabilities = []int32{
	unix.CAP_NET_ADMIN, unix.CAP_IPC_LOCK, unix.CAP_SYS_PTRACE,
	unix.CAP_SYS_ADMIN, unix.CAP_SYS_RESOURCE, unix.CAP_SYSLOG,
}

// unjudgedMask is UnjudgedCapabilities a bit per number, as the kernel
// takes it (cap_unjudged).
func unjudgedMask() uint64 {
	var m uint64
	for _, c := range UnjudgedCapabilities {
		m |= 1 << c
	}
	return m
}

// CapabilityJudged reports whether the capability hook judges checks of
// capability cap (it is not one of UnjudgedCapabilities).
func CapabilityJudged(cap int32) bool { return !slices.Contains(UnjudgedCapabilities, cap) }
