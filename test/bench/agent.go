package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// condition is what runs beside the workload.
type condition struct {
	name     string
	command  string
	baseline bool
	start    func(b *bench) (environment, error)
}

// environment is one started condition.
type environment interface {
	// prepare readies it for the loop child pid, before the loop starts.
	prepare(pid int) error
	sample() (sample, error)
	// settle waits until the agent has accounted for what the workload did.
	settle(before sample) (sample, error)
	stop() error
}

// sample is the agent's counters, CPU time and memory at one moment.
type sample struct {
	delivered, lost, kernel uint64
	cpu                     time.Duration
	rss                     uint64 // bytes
}

func noAgent() condition {
	return condition{name: "no agent", command: "(nothing)", baseline: true,
		start: func(*bench) (environment, error) { return nothing{}, nil }}
}

type nothing struct{}

func (nothing) prepare(int) error             { return nil }
func (nothing) sample() (sample, error)       { return sample{}, nil }
func (nothing) settle(sample) (sample, error) { return sample{}, nil }
func (nothing) stop() error                   { return nil }

// traceAgent runs `vigil-agent trace --json` with its output discarded.
func traceAgent(bin string) condition {
	return agentCondition("agent trace --json", bin,
		[]string{"trace", "--json", "--types", "exec,open,connect,capability", "--log-level", "warn"}, " >/dev/null")
}

// runAgent runs the node agent's own job, `vigil-agent run`, with nothing
// to attribute to (no containerd): it reads, decodes and judges every event.
func runAgent(bin, stateDir string) condition {
	return agentCondition("agent run", bin, []string{"run", "--containerd-socket", "", "--pin-dir", "",
		"--state-dir", stateDir, "--alerts-file", "", "--log-level", "warn"}, "")
}

func agentCondition(name, bin string, args []string, redirect string) condition {
	return condition{
		name:    name,
		command: bin + " " + strings.Join(args, " ") + redirect,
		start: func(*bench) (environment, error) {
			addr, err := freeAddr()
			if err != nil {
				return nil, err
			}
			cmd := exec.Command(bin, append(args, "--metrics-addr", addr)...)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				return nil, fmt.Errorf("start agent: %w", err)
			}
			a := &runningAgent{cmd: cmd, metrics: "http://" + addr + "/metrics", ready: "http://" + addr + "/readyz"}
			if err := a.waitReady(); err != nil {
				a.stop()
				return nil, err
			}
			return a, nil
		},
	}
}

type runningAgent struct {
	cmd            *exec.Cmd
	metrics, ready string
}

func (a *runningAgent) prepare(int) error { return nil }

func (a *runningAgent) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		// Ready: its programs are attached (metrics answer before that).
		if resp, err := http.Get(a.ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if _, err := a.sample(); err == nil {
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("agent not ready after 30s")
}

func (a *runningAgent) sample() (sample, error) {
	resp, err := http.Get(a.metrics)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	s, err := parseCounters(resp.Body)
	if err != nil {
		return s, err
	}
	if s.cpu, err = cpuTime(a.cmd.Process.Pid); err != nil {
		return s, err
	}
	s.rss, err = rss(a.cmd.Process.Pid)
	return s, err
}

// settle waits until every event the kernel emitted was delivered or lost.
func (a *runningAgent) settle(before sample) (sample, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := a.sample()
		if err != nil {
			return s, err
		}
		if s.delivered+s.lost >= s.kernel || time.Now().After(deadline) {
			return s, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *runningAgent) stop() error {
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		return errors.New("agent did not stop within 10s of SIGTERM")
	}
}

// parseCounters sums the sensor's counters over event types: kernel events
// include the ring buffer's losses; lost counts both places of loss.
func parseCounters(r io.Reader) (sample, error) {
	var s sample
	var ringLost uint64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "vigil_sensor_events_delivered_total"):
			s.delivered += uint64(v)
		case strings.HasPrefix(name, "vigil_sensor_events_lost_total"):
			s.lost += uint64(v)
			if strings.Contains(name, `where="ring_buffer"`) {
				ringLost += uint64(v)
			}
		case strings.HasPrefix(name, "vigil_sensor_kernel_events_total"):
			s.kernel += uint64(v)
		}
	}
	s.kernel += ringLost
	return s, sc.Err()
}

// cpuTime is a process's user + system CPU time from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.ParseUint(fields[11], 10, 64)
	stime, _ := strconv.ParseUint(fields[12], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// rss is a process's resident set size, from /proc/<pid>/status.
func rss(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
