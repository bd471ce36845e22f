//go:build linux && !amd64

package procfs

import "golang.org/x/sys/unix"

// Architectures newer than x86-64 (arm64 among them) have neither open
// nor creat.
var openCalls = map[int64]openCall{
	unix.SYS_OPENAT:  {openFlagsArg, 2},
	unix.SYS_OPENAT2: {openHow, 2},
}
