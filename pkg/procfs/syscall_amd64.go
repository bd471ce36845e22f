//go:build linux

package procfs

import "golang.org/x/sys/unix"

var openCalls = map[int64]openCall{
	unix.SYS_OPEN:    {openFlagsArg, 1},
	unix.SYS_CREAT:   {openCreat, 0},
	unix.SYS_OPENAT:  {openFlagsArg, 2},
	unix.SYS_OPENAT2: {openHow, 2},
}
