package profile

import (
	"fmt"
	"strings"
)

// IoUringOp is an io_uring operation as the kernel's io_uring hooks report
// it: a request's opcode (IORING_OP_*), or IoUringSetup for setting up a
// ring. Profiles spell operations by name: the opcode's without its
// IORING_OP_ prefix (OPENAT, READ), or SETUP.
type IoUringOp uint8

// IoUringSetup is setting up a ring (io_uring_setup): a profile without it
// refuses io_uring to its containers. It matches VIGIL_IO_URING_SETUP: no
// opcode.
const IoUringSetup IoUringOp = 255

// ioUringNames is indexed by opcode (enum io_uring_op, Linux 6.18).
var ioUringNames = [...]string{
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED",
	"POLL_ADD", "POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT",
	"TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT", "FALLOCATE",
	"OPENAT", "CLOSE", "FILES_UPDATE", "STATX", "READ", "WRITE",
	"FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL",
	"SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT",
	"UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR",
	"SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC",
	"SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAITV",
	"FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC", "EPOLL_WAIT",
	"READV_FIXED", "WRITEV_FIXED", "PIPE",
}

// Valid reports whether op is an opcode this build knows by name, or
// IoUringSetup.
func (op IoUringOp) Valid() bool { return int(op) < len(ioUringNames) || op == IoUringSetup }

// String gives the operation's name, or OP_<n> for an opcode unknown to
// this build.
func (op IoUringOp) String() string {
	switch {
	case op == IoUringSetup:
		return "SETUP"
	case int(op) < len(ioUringNames):
		return ioUringNames[op]
	}
	return fmt.Sprintf("OP_%d", uint8(op))
}

// ParseIoUringOp reads an operation name such as OPENAT or SETUP.
func ParseIoUringOp(name string) (IoUringOp, error) {
	if name == "SETUP" {
		return IoUringSetup, nil
	}
	for i, n := range ioUringNames {
		if n == name {
			return IoUringOp(i), nil
		}
	}
	if strings.HasPrefix(name, "IORING_OP_") {
		return 0, fmt.Errorf("unknown io_uring operation %q (write opcodes without IORING_OP_, e.g. OPENAT)", name)
	}
	return 0, fmt.Errorf("unknown io_uring operation %q (want SETUP or an opcode such as OPENAT)", name)
}
