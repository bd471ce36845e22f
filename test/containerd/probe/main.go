// Command probe is the entrypoint of the harness's probe image: a static
// program that reports on the container it runs in.
//
//	probe sleep        wait until killed (a long-running container)
//	probe cgroup FILE  copy /proc/self/cgroup to FILE and exit (a short-lived one)
package main

import (
	"fmt"
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
		return fmt.Errorf("usage: probe sleep | probe cgroup FILE")
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
	}
	return fmt.Errorf("unknown command %q", args[0])
}
