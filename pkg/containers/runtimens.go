package containers

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/procfs"
)

// RuntimeMountNamespace returns the mount namespace containerd runs in: the
// one runc's init execs in before it enters a container's. That is what
// tells a container's setup from its workload, and it is the node's initial
// mount namespace only when containerd runs there (not in kind, nor in a
// root with a mount namespace of its own). containerd's pid is the peer of a
// connection to its socket; procRoot must show the host's pids.
func RuntimeMountNamespace(socket, procRoot string) (uint32, error) {
	conn, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return 0, fmt.Errorf("connect to containerd: %w", err)
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("containerd socket: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("containerd socket: %w", err)
	}
	if credErr != nil {
		return 0, fmt.Errorf("containerd's credentials: %w", credErr)
	}
	if cred.Pid <= 0 {
		return 0, errors.New("containerd's pid is not visible from this pid namespace")
	}
	ns, err := procfs.MountNamespace(procRoot, uint32(cred.Pid))
	if err != nil {
		return 0, fmt.Errorf("mount namespace of containerd (pid %d): %w", cred.Pid, err)
	}
	return ns, nil
}
