package lsmproof

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as the helper child instead of running
// tests: it performs one action (its arguments) and reports the outcome.
const helperEnv = "LSMPROOF_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper(os.Args[1:], os.Stdout))
	}
	os.Exit(m.Run())
}

// helper performs an action and prints "ok" or "errno N".
func helper(args []string, out io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(out, "no action")
		return 2
	}
	var err error
	switch args[0] {
	case "noop":
	case "open":
		var f *os.File
		if f, err = os.Open(args[1]); err == nil {
			f.Close()
		}
	case "connect":
		var c net.Conn
		if c, err = net.Dial("tcp", args[1]); err == nil {
			c.Close()
		}
	case "rawsocket": // needs CAP_NET_RAW
		var fd int
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP); err == nil {
			unix.Close(fd)
		}
	case "chown": // needs CAP_CHOWN
		err = os.Chown(args[1], 65534, 65534)
	default:
		fmt.Fprintf(out, "unknown action %q\n", args[0])
		return 2
	}
	var errno syscall.Errno
	switch {
	case err == nil:
		fmt.Fprintln(out, "ok")
	case errors.As(err, &errno):
		fmt.Fprintf(out, "errno %d\n", int(errno))
	default:
		fmt.Fprintf(out, "error %v\n", err)
		return 1
	}
	return 0
}

// starter starts a command either in the test cgroup or outside it.
type starter func(name string, args ...string) *exec.Cmd

// inHelper runs the test binary as the helper child with an action and
// returns the errno the action met, nil if it succeeded.
func inHelper(start starter, action ...string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find test binary: %w", err)
	}
	return runHelper(start, self, action...)
}

// runHelper runs program (a copy of the test binary) as the helper child.
// A failed exec returns the exec's errno.
func runHelper(start starter, program string, action ...string) error {
	cmd := start(program, action...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return err // the exec itself failed: *os.PathError wrapping the errno
	}
	line := strings.TrimSpace(string(out))
	if err != nil {
		return fmt.Errorf("helper %v: %w: %s %s", action, err, line, exitErr.Stderr)
	}
	if line == "ok" {
		return nil
	}
	if n, ok := strings.CutPrefix(line, "errno "); ok {
		if e, err := strconv.Atoi(n); err == nil {
			return syscall.Errno(e)
		}
	}
	return fmt.Errorf("helper %v: unexpected report %q", action, line)
}
