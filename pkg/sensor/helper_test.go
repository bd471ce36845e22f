package sensor

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as a small program a test runs inside
// its cgroup: the test process itself stays untraced.
const helperEnv = "VIGIL_SENSOR_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helperMain(mode, os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperMain(mode string, args []string) error {
	switch mode {
	case "execveat": // args: file; exec it through execveat(fd, "", AT_EMPTY_PATH)
		fd, err := unix.Open(args[0], unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		return execveatEmptyPath(fd, args)
	case "openat": // args: dir name; open name relative to an fd of dir
		dirfd, err := unix.Open(args[0], unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		fd, err := unix.Openat(dirfd, args[1], unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	case "create-in-fd3": // args: name; create name in the directory passed as fd 3
		fd, err := unix.Openat(3, args[0], unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	case "open-missing": // args: name; an open that fails with ENOENT
		if _, err := unix.Open(args[0], unix.O_RDONLY, 0); err != unix.ENOENT {
			return fmt.Errorf("open %s: got %v, want ENOENT", args[0], err)
		}
		return nil
	case "open-variety": // args: dir; the opens and connects of TestFexitMatchesSysExit
		return openVariety(args[0])
	case "connect": // args: network address
		c, err := net.Dial(args[0], args[1])
		if err != nil {
			return err
		}
		return c.Close()
	case "open-missing-as-nobody": // args: name; as open-missing, as uid and gid 65534
		if err := unix.Setgid(65534); err != nil {
			return err
		}
		if err := unix.Setuid(65534); err != nil {
			return err
		}
		return helperMain("open-missing", args)
	case "raw-socket": // a CAP_NET_RAW check, granted to root
		return rawSocket()
	case "raw-socket-as-nobody": // the same check, refused to nobody
		if err := unix.Setgid(65534); err != nil {
			return err
		}
		if err := unix.Setuid(65534); err != nil {
			return err
		}
		return rawSocket()
	case "flood": // args: cgroup.procs n file; join the cgroup, then open+close file n times
		return flood(args)
	case "flood-until": // args: cgroup.procs file stop; as flood until stop exists, then print how many
		return floodUntil(args)
	case "enter-then-exec": // args: file; as runc init: enter a mount namespace, open file, exec cat file
		return enterThenExec(args[0])
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func rawSocket() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err == nil {
		return unix.Close(fd)
	}
	if err != unix.EPERM {
		return err
	}
	return nil
}

func execveatEmptyPath(fd int, argv []string) error {
	empty, _ := unix.BytePtrFromString("")
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, _ := syscall.SlicePtrFromStrings(nil)
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return errno
}

// flood joins the cgroup only once the Go runtime has started, so the
// cgroup sees exactly n opens.
func flood(args []string) error {
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	procs, err := os.OpenFile(args[0], os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := procs.WriteString(strconv.Itoa(os.Getpid())); err != nil {
		return fmt.Errorf("join cgroup: %w", err)
	}
	for range n {
		fd, err := unix.Open(args[2], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	return nil
}

// floodUntil floods like flood until the stop file exists, and prints the
// opens it made: a flood that lasts as long as a test needs it, counted.
func floodUntil(args []string) error {
	procs, err := os.OpenFile(args[0], os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := procs.WriteString(strconv.Itoa(os.Getpid())); err != nil {
		return fmt.Errorf("join cgroup: %w", err)
	}
	var st unix.Stat_t
	n := 0
	// Stat is no open: the stop check adds nothing to the flood.
	for ; n%1000 != 0 || unix.Stat(args[2], &st) != nil; n++ {
		fd, err := unix.Open(args[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	_, err = fmt.Println(n)
	return err
}

// enterThenExec does what runc's init does to a container: it enters a
// mount namespace (a new one here) and works there, then execs the
// container's program in it. Unsharing is per thread: the thread stays
// locked from the unshare to the exec.
func enterThenExec(file string) error {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	fd, err := unix.Open(file, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return unix.Exec("/bin/cat", []string{"cat", file}, nil)
}
