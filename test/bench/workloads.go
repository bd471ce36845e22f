package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// workload is a syscall loop timed in this process.
type workload struct {
	name    string
	ops     int
	command string // how to reproduce it by hand
	run     func() error
}

func openClose(n int) workload {
	return workload{
		name:    "open+close",
		ops:     n,
		command: fmt.Sprintf("%d × open(/etc/hostname, O_RDONLY) + close", n),
		run: func() error {
			for range n {
				fd, err := unix.Open("/etc/hostname", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				unix.Close(fd)
			}
			return nil
		},
	}
}

// forkExec runs a small static binary (busybox true) n times.
func forkExec(n int) workload {
	bin, err := exec.LookPath("busybox")
	if err != nil {
		bin = "/bin/busybox"
	}
	return workload{
		name:    "fork+exec",
		ops:     n,
		command: fmt.Sprintf("%d × fork+exec+wait of %s true", n, bin),
		run: func() error {
			argv := []string{"true"}
			attr := &syscall.ProcAttr{Env: []string{}, Files: []uintptr{0, 1, 2}}
			for range n {
				pid, err := syscall.ForkExec(bin, argv, attr)
				if err != nil {
					return fmt.Errorf("exec %s: %w", bin, err)
				}
				var ws syscall.WaitStatus
				if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
					return err
				}
				if ws.ExitStatus() != 0 {
					return fmt.Errorf("%s true exited %d", bin, ws.ExitStatus())
				}
			}
			return nil
		},
	}
}

// measure runs w under c runs times and reports the median run.
func measure(w workload, c condition, runs int) (row, error) {
	var results []row
	for range runs {
		env, err := c.start()
		if err != nil {
			return row{}, err
		}
		before, err := env.sample()
		if err != nil {
			env.stop()
			return row{}, err
		}
		start := time.Now()
		err = w.run()
		elapsed := time.Since(start)
		if err == nil {
			var after sample
			after, err = env.settle(before)
			if err == nil {
				results = append(results, resultRow(w, c, elapsed, before, after))
			}
		}
		if serr := env.stop(); err == nil {
			err = serr
		}
		if err != nil {
			return row{}, err
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].NsPerOp < results[j].NsPerOp })
	return results[len(results)/2], nil
}

func resultRow(w workload, c condition, elapsed time.Duration, before, after sample) row {
	r := row{
		Workload:  w.name,
		Condition: c.name,
		Ops:       w.ops,
		NsPerOp:   float64(elapsed.Nanoseconds()) / float64(w.ops),
		Events:    after.delivered - before.delivered,
		Lost:      after.lost - before.lost,
		Command:   c.command + "  # workload: " + w.command,
	}
	secs := elapsed.Seconds()
	r.EventsPerS = float64(r.Events) / secs
	r.AgentCPU = (after.cpu - before.cpu).Seconds() / secs
	return r
}

func init() {
	// The bench measures the node, not itself: keep its own GC quiet.
	os.Setenv("GOGC", "off")
}
