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
	loopOpenOne  = "open-one"  // n × open+close of oneFile
	loopOpenMany = "open-many" // n × open+close of treeFiles, round-robin
	loopExec     = "exec"      // n × fork+exec+wait of busybox true
	loopConnect  = "connect"   // n × TCP connect+close to the address given
	loopPaced    = "paced"     // open+close of oneFile at n/s for the milliseconds given
	loopForbid   = "forbid"    // one open of forbiddenFile; n is ignored
)

// Results of the forbidden open, as the forbid loop prints them in place of
// a time.
const (
	openAllowed = "allowed"
	openDenied  = "denied" // followed by the errno's name
)

// runLoop is the child: say "ready", wait for "go", run the loop, print the
// operations done and the nanoseconds they took.
func runLoop(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("loop %q: want a kind and a count", args)
	}
	kind := args[0]
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	files := treeFiles()
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	if _, err := in.ReadString('\n'); err != nil {
		return fmt.Errorf("wait for go: %w", err)
	}
	start := time.Now()
	done := n
	switch kind {
	case loopOpenOne:
		err = openLoop([]string{oneFile}, n)
	case loopOpenMany:
		err = openLoop(files, n)
	case loopExec:
		err = execLoop("/bin/busybox", n)
	case loopConnect:
		if len(args) < 3 {
			return errors.New("connect loop: no address")
		}
		err = connectLoop(args[2], n)
	case loopPaced:
		var ms int
		if len(args) < 3 {
			return errors.New("paced loop: no duration")
		}
		if ms, err = strconv.Atoi(args[2]); err == nil {
			done, err = pacedOpenLoop(oneFile, n, time.Duration(ms)*time.Millisecond)
		}
	case loopForbid:
		fmt.Println(1, forbiddenOpen())
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

func openLoop(paths []string, n int) error {
	for i := range n {
		fd, err := unix.Open(paths[i%len(paths)], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", paths[i%len(paths)], err)
		}
		unix.Close(fd)
	}
	return nil
}

// forbiddenOpen opens forbiddenFile once and says what happened.
func forbiddenOpen() string {
	fd, err := unix.Open(forbiddenFile, unix.O_RDONLY|unix.O_CLOEXEC, 0)
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
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return done, err
			}
			unix.Close(fd)
		}
		time.Sleep(time.Millisecond)
	}
}

func execLoop(bin string, n int) error {
	attr := &syscall.ProcAttr{Env: []string{}, Files: []uintptr{0, 1, 2}}
	for range n {
		pid, err := syscall.ForkExec(bin, []string{"true"}, attr)
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
	}
	return nil
}

func connectLoop(addr string, n int) error {
	for range n {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}
