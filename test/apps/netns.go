package apps

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialer connects to addresses as seen from the network namespace of a
// process (a container's task): the containers have only loopback.
type dialer struct{ pid uint32 }

// DialContext opens the socket inside the namespace; once made, a socket
// stays in its namespace whatever thread uses it, so only the socket call
// needs the locked, switched thread.
func (d dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := d.inNetns(func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

func (d dialer) inNetns(fn func() error) error {
	target, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", d.pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace of pid %d: %w", d.pid, err)
	}
	defer unix.Close(target)
	runtime.LockOSThread()
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own network namespace: %w", err)
	}
	defer unix.Close(own)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace of pid %d: %w", d.pid, err)
	}
	fnErr := fn()
	if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
		// The thread stays locked to this goroutine, so no other runs on
		// it, and Go discards it when the goroutine exits rather than
		// reuse a thread in the wrong namespace.
		return fmt.Errorf("leave network namespace of pid %d: %w", d.pid, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
