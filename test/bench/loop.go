package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// loopEnv makes the bench binary the loop child: the workload runs in a
// process of its own, in the bench's cgroup and a mount namespace of its
// own (as a container's process would), on an overlay mount it makes there.
const loopEnv = "VIGIL_BENCH_LOOP"

// runLoop is the child: set up, say "ready", wait for "go", run the loop,
// print the nanoseconds it took.
func runLoop(args []string) error {
	kind, n := args[0], 0
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	dir := args[2]
	if kind != "rate" { // paced children run side by side: they share no overlay
		if err := mountOverlay(dir); err != nil {
			return err
		}
	}
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	if _, err := in.ReadString('\n'); err != nil {
		return fmt.Errorf("wait for go: %w", err)
	}
	merged := filepath.Join(dir, "merged")
	start := time.Now()
	switch kind {
	case "open":
		err = openLoop(filepath.Join(merged, "file"), n)
	case "exec":
		err = execLoop(filepath.Join(merged, "busybox"), n)
	case "connect":
		err = connectLoop(args[3], n)
	case "rate":
		var ms int
		if ms, err = strconv.Atoi(args[3]); err == nil {
			err = pacedOpenLoop(filepath.Join(dir, "lower", "file"), n, time.Duration(ms)*time.Millisecond)
		}
	default:
		err = fmt.Errorf("unknown loop %q", kind)
	}
	if err != nil {
		return err
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return nil
}

// mountOverlay makes the child's mounts private (nothing reaches the host)
// and mounts an overlay of dir/lower at dir/merged, as a container's root is.
func mountOverlay(dir string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	return nil
}

func openLoop(path string, n int) error {
	for range n {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	return nil
}

// pacedOpenLoop opens and closes path at rate opens/s for d, in 1 ms steps.
func pacedOpenLoop(path string, rate int, d time.Duration) error {
	start := time.Now()
	done := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			return nil
		}
		due := int(float64(rate) * elapsed.Seconds())
		for ; done < due; done++ {
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
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
