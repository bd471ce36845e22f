package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workload is a loop the child runs.
type workload struct {
	name    string
	kind    string // open, exec, connect
	ops     int
	command string // how to reproduce it by hand
}

func workloads(opens, execs, connects int) []workload {
	return []workload{
		{"open+close", "open", opens, fmt.Sprintf("%d × open(O_RDONLY)+close of a file on an overlay", opens)},
		{"fork+exec", "exec", execs, fmt.Sprintf("%d × fork+exec+wait of a static busybox true on an overlay", execs)},
		{"connect", "connect", connects, fmt.Sprintf("%d × TCP connect+close to a loopback listener", connects)},
	}
}

// bench is what every run shares: the cgroup and files the loop uses.
type bench struct {
	cgroup   *os.File // the bench cgroup's directory, for CLONE_INTO_CGROUP
	cgroupID uint64
	dir      string // overlay layers
	listener net.Listener
}

// loop runs one workload in a child and reports the elapsed time; ready is
// called with the child's pid before the loop starts.
func (b *bench) loop(w workload, ready func(pid int) error) (time.Duration, error) {
	return b.loopWith(w, b.listener.Addr().String(), ready)
}

// loopArgs runs a workload whose last argument is extra.
func (b *bench) loopArgs(w workload, extra string) (time.Duration, error) {
	return b.loopWith(w, extra, func(int) error { return nil })
}

func (b *bench) loopWith(w workload, extra string, ready func(pid int) error) (time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self, w.kind, strconv.Itoa(w.ops), b.dir, extra)
	cmd.Env = append(os.Environ(), loopEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(b.cgroup.Fd()), Cloneflags: syscall.CLONE_NEWNS}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		return 0, fmt.Errorf("loop child: %q %v", line, err)
	}
	if err := ready(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		return 0, err
	}
	io.WriteString(stdin, "go\n")
	line, err := out.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("loop child ended without a result: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	return time.Duration(ns), err
}

// measure runs w under every condition, one after the other, rounds
// times. A condition's ratio is the median of its ratio to the baseline of
// the same round: a node whose speed drifts from minute to minute (a busy
// hypervisor) moves both sides of a round alike.
func (b *bench) measure(w workload, conditions []condition, rounds int) ([]row, error) {
	if !conditions[0].baseline {
		return nil, fmt.Errorf("%s: the baseline must run first in each round", w.name)
	}
	runs := make([][]row, len(conditions))
	ratios := make([][]float64, len(conditions))
	for range rounds {
		var base float64
		for i, c := range conditions {
			r, err := b.measureOnce(w, c)
			if err != nil {
				return nil, fmt.Errorf("%s with %s: %w", w.name, c.name, err)
			}
			if c.baseline {
				base = r.NsPerOp
			}
			runs[i] = append(runs[i], r)
			ratios[i] = append(ratios[i], r.NsPerOp/base)
		}
	}
	rows := make([]row, len(conditions))
	for i := range conditions {
		sort.Slice(runs[i], func(a, b int) bool { return runs[i][a].NsPerOp < runs[i][b].NsPerOp })
		sort.Float64s(ratios[i])
		rows[i] = runs[i][rounds/2]
		rows[i].Ratio, rows[i].RatioMin, rows[i].RatioMax = ratios[i][rounds/2], ratios[i][0], ratios[i][rounds-1]
	}
	return rows, nil
}

// measureOnce starts c, runs w once under it and stops it.
func (b *bench) measureOnce(w workload, c condition) (row, error) {
	env, err := c.start(b)
	if err != nil {
		return row{}, err
	}
	var before, after sample
	elapsed, err := b.loop(w, func(pid int) error {
		if err := env.prepare(pid); err != nil {
			return err
		}
		before, err = env.sample()
		return err
	})
	if err == nil {
		after, err = env.settle(before)
	}
	if serr := env.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return row{}, err
	}
	return resultRow(w, c, elapsed, before, after), nil
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

// prepareLayers makes the overlay's lower layer: the file the open loop
// opens and a static busybox for the exec loop.
func prepareLayers(dir string) error {
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "lower", "file"), []byte("x"), 0o644); err != nil {
		return err
	}
	bin, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("the exec loop needs busybox-static: %w", err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "lower", "busybox"), b, 0o755)
}
