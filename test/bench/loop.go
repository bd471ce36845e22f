package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// loopEnv makes the bench binary the loop child. The bench image sets it,
// so every process the bench execs in its container is one.
const loopEnv = "VIGIL_BENCH_LOOP"

// The loops a child runs, by its first argument.
const (
	loopOpenOne  = "open-one"  // open+close of oneFile
	loopOpenMany = "open-many" // open+close of treeFiles, round-robin
	loopExec     = "exec"      // fork+exec+wait of busybox true
	loopConnect  = "connect"   // TCP connect+close to the address given last
	loopPaced    = "paced"     // open+close of oneFile at n/s for the milliseconds given
	loopForbid   = "forbid"    // one open of the path given last
)

// Results of the forbidden open, as the forbid loop prints them in place of
// a time.
const (
	openAllowed = "allowed"
	openDenied  = "denied" // followed by the errno's name
)

// runLoop is the child: say "ready", wait for "go", run the loop, print the
// operations done and the nanoseconds they took. Its arguments: the kind,
// a count n, milliseconds (the paced loop's duration, the others' time
// limit: they stop after n operations or then, whichever comes first), and
// the connect loop's address.
func runLoop(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("loop %q: want a kind, a count and milliseconds", args)
	}
	kind := args[0]
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	ms, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	if (kind == loopConnect || kind == loopForbid) && len(args) < 4 {
		return fmt.Errorf("%s loop: no address or path", kind)
	}
	files := treeFiles()
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	if _, err := in.ReadString('\n'); err != nil {
		return fmt.Errorf("wait for go: %w", err)
	}
	start := time.Now()
	deadline := start.Add(time.Duration(ms) * time.Millisecond)
	var done int
	switch kind {
	case loopOpenOne:
		done, err = until(n, deadline, func(int) error { return openClose(oneFile) })
	case loopOpenMany:
		done, err = until(n, deadline, func(i int) error { return openClose(files[i%len(files)]) })
	case loopExec:
		done, err = until(n, deadline, func(int) error { return execTrue("/bin/busybox") })
	case loopConnect:
		done, err = until(n, deadline, func(int) error { return connectClose(args[3]) })
	case loopPaced:
		done, err = pacedOpenLoop(oneFile, n, time.Duration(ms)*time.Millisecond)
	case loopForbid:
		fmt.Println(1, forbiddenOpen(args[3]))
		return nil
	default:
		err = fmt.Errorf("unknown loop %q", kind)
	}
	if err != nil {
		return err
	}
	fmt.Println(done, time.Since(start).Nanoseconds())
	return nil
}

// until runs op n times or until deadline and returns how many ran.
func until(n int, deadline time.Time, op func(i int) error) (int, error) {
	for i := range n {
		if time.Now().After(deadline) { // vDSO: no system call, no event
			return i, nil
		}
		if err := op(i); err != nil {
			return i, err
		}
	}
	return n, nil
}

func openClose(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	return unix.Close(fd)
}

// forbiddenOpen opens path once and says what happened.
func forbiddenOpen(path string) string {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		return openAllowed
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return openDenied + "-" + unix.ErrnoName(errno)
	}
	return openDenied + "-" + err.Error()
}

// pacedOpenLoop opens and closes path at rate opens/s for d, in 1 ms steps,
// and returns how many it did: less than asked when the child cannot keep up.
func pacedOpenLoop(path string, rate int, d time.Duration) (int, error) {
	start := time.Now()
	done := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			return done, nil
		}
		due := int(float64(rate) * elapsed.Seconds())
		for ; done < due; done++ {
			if err := openClose(path); err != nil {
				return done, err
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func execTrue(bin string) error {
	pid, err := syscall.ForkExec(bin, []string{"true"}, &syscall.ProcAttr{Env: []string{}, Files: []uintptr{0, 1, 2}})
	if err != nil {
		return fmt.Errorf("exec %s: %w", bin, err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return err
	}
	if ws.ExitStatus() != 0 {
		return fmt.Errorf("%s true: %v", bin, ws)
	}
	return nil
}

func connectClose(addr string) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
