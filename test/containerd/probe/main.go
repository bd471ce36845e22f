// Command probe is the entrypoint of the harness's probe image: a static
// program that reports on the container it runs in.
//
//	probe sleep        wait until killed (a long-running container)
//	probe cgroup FILE  copy /proc/self/cgroup to FILE and exit (a short-lived one)
//	probe iouring FILE open FILE through io_uring (not openat(2)) and print
//	                   its first line (busybox has no io_uring)
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: probe sleep | probe cgroup FILE | probe iouring FILE")
	}
	switch args[0] {
	case "sleep":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		return nil
	case "cgroup":
		if len(args) != 2 {
			return fmt.Errorf("usage: probe cgroup FILE")
		}
		cg, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return err
		}
		return os.WriteFile(args[1], cg, 0o644)
	case "iouring":
		if len(args) != 2 {
			return fmt.Errorf("usage: probe iouring FILE")
		}
		fd, err := ioUringOpenat(args[1])
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), args[1])
		defer f.Close()
		line, err := bufio.NewReader(f).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", args[1], err)
		}
		fmt.Print(line)
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}
