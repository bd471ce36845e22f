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

// Bounds of the waits on an agent; each normally takes a second or two.
// Reaching one fails the bench with the reason.
const (
	readyTimeout  = 30 * time.Second
	settleTimeout = 60 * time.Second
	stopTimeout   = 20 * time.Second // the agent delivers its last alerts first
)

// condition is what runs beside the workload.
type condition struct {
	name     string
	command  string
	baseline bool
	start    func(b *bench) (environment, error)
	// check, when set, proves after each row that the condition still
	// judges as it should; an error fails the bench.
	check func(b *bench, env environment) error
}

// environment is one started condition.
type environment interface {
	sample() (sample, error)
	// settle waits until the agent has accounted for every event the
	// kernel wrote, or fails saying what it still lacks.
	settle() (sample, error)
	stop() error
}

// sample is the agent's counters, CPU time and memory at one moment.
type sample struct {
	delivered, lost, kernel uint64
	alerts                  uint64    // alerts sent and repeats folded into a summary: every violation reported
	timeouts                uint64    // opens the fanotify tier let through at its deadline, unjudged
	at                      time.Time // when the CPU time was read
	cpu                     time.Duration
	rss                     uint64 // bytes
}

func noAgent() condition {
	return condition{name: "no agent", command: "(nothing)", baseline: true,
		start: func(*bench) (environment, error) { return nothing{}, nil }}
}

type nothing struct{}

func (nothing) sample() (sample, error) { return sample{}, nil }
func (nothing) settle() (sample, error) { return sample{}, nil }
func (nothing) stop() error             { return nil }

// traceAgent runs `vigil-agent trace --json` with its output discarded.
func traceAgent(bin string) condition {
	args := []string{"trace", "--json", "--types", "exec,open,connect,capability", "--log-level", "warn"}
	return condition{
		name:    "agent trace --json",
		command: bin + " " + strings.Join(args, " ") + " >/dev/null",
		start: func(*bench) (environment, error) {
			return startAgent(bin, args, false)
		},
	}
}

// runningAgent is a vigil-agent process and its metrics endpoint.
type runningAgent struct {
	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error
	base     string // http://addr
	pipeline bool   // `run`: settled when its pipeline has processed every event
	checks   int    // forbidden files opened so far (checkForbidden)
}

// startAgent starts bin with args and a metrics address of its own, and
// waits until it is ready (its programs attached).
func startAgent(bin string, args []string, pipeline bool) (*runningAgent, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append(args, "--metrics-addr", addr)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	a := &runningAgent{cmd: cmd, done: make(chan struct{}), base: "http://" + addr, pipeline: pipeline}
	go func() { a.exitErr = cmd.Wait(); close(a.done) }()
	if err := a.waitFor("ready (/readyz answering 200, the sensor's counters served)", readyTimeout, a.ready); err != nil {
		return nil, errors.Join(err, a.stop())
	}
	return a, nil
}

// ready: /readyz says so and the sensor's counters are served. trace
// answers /readyz from the start and registers its counters once its
// programs are attached.
func (a *runningAgent) ready() (bool, error) {
	resp, err := http.Get(a.base + "/readyz")
	if err != nil {
		return false, nil // not listening yet
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	m, err := a.metrics()
	if err != nil {
		return false, err
	}
	_, ok := m.series("vigil_sensor_kernel_events_total")
	return ok, nil
}

// waitFor polls cond until it holds, failing when the agent exits, cond
// errs or timeout passes.
func (a *runningAgent) waitFor(what string, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		switch {
		case err != nil:
			return fmt.Errorf("agent %s: %w", what, err)
		case ok:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("agent not %s after %s", what, timeout)
		}
		select {
		case <-a.done:
			return fmt.Errorf("agent exited (%v) before it was %s", a.exitErr, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *runningAgent) metrics() (metricSet, error) {
	resp, err := http.Get(a.base + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("agent metrics: %w", err)
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

func (a *runningAgent) sample() (sample, error) {
	m, err := a.metrics()
	if err != nil {
		return sample{}, err
	}
	s := m.counters()
	s.at = time.Now()
	if s.cpu, err = cpuTime(a.cmd.Process.Pid); err != nil {
		return s, err
	}
	s.rss, err = rss(a.cmd.Process.Pid)
	return s, err
}

// settle waits until every event the kernel wrote was processed (run: its
// pipeline learned, judged and alerted it) or delivered (trace), or counted
// lost.
func (a *runningAgent) settle() (sample, error) {
	var s sample
	var m metricSet
	err := a.waitFor("settled (every kernel event handled or counted lost)", settleTimeout, func() (bool, error) {
		var err error
		if m, err = a.metrics(); err != nil {
			return false, err
		}
		s = m.counters()
		handled := s.delivered
		if a.pipeline {
			handled = uint64(m.sum("vigil_pipeline_events_processed_total", "") + m.sum("vigil_sensor_decode_errors_total", ""))
		}
		return handled+s.lost >= s.kernel, nil
	})
	if err != nil {
		return s, fmt.Errorf("%w: kernel events %d, delivered %d, processed %.0f, lost %d", err,
			s.kernel, s.delivered, m.sum("vigil_pipeline_events_processed_total", ""), s.lost)
	}
	return a.sample()
}

func (a *runningAgent) stop() error {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return a.exitErr
	case <-time.After(stopTimeout):
		_ = a.cmd.Process.Kill()
		<-a.done
		return fmt.Errorf("agent did not stop within %s of SIGTERM", stopTimeout)
	}
}

// metricSet is a Prometheus text exposition: series (name and labels) to
// value.
type metricSet map[string]float64

func parseMetrics(r io.Reader) (metricSet, error) {
	m := metricSet{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// series reports whether the metric name has a series, and its sum.
func (m metricSet) series(name string) (float64, bool) {
	var total float64
	found := false
	for s, v := range m {
		if base, _, _ := strings.Cut(s, "{"); base == name {
			total, found = total+v, true
		}
	}
	return total, found
}

// sum adds the series of the metric name whose labels contain label
// (every series when label is empty).
func (m metricSet) sum(name, label string) float64 {
	var total float64
	for series, v := range m {
		base, labels, _ := strings.Cut(series, "{")
		if base == name && strings.Contains(labels, label) {
			total += v
		}
	}
	return total
}

// counters sums the sensor's counters over event types: kernel events
// include the ring buffer's losses; lost counts every place of loss. A
// repeat within the dedup window sends no alert of its own but is counted
// at once: alerts adds both, so that every violation shows.
func (m metricSet) counters() sample {
	return sample{
		delivered: uint64(m.sum("vigil_sensor_events_delivered_total", "")),
		lost:      uint64(m.sum("vigil_sensor_events_lost_total", "")),
		kernel:    uint64(m.sum("vigil_sensor_kernel_events_total", "") + m.sum("vigil_sensor_events_lost_total", `where="ring_buffer"`)),
		alerts:    uint64(m.sum("vigil_alerts_total", "") + m.sum("vigil_alerts_repeats_total", "")),
		timeouts:  uint64(m.sum("vigil_fanotify_decisions_total", `decision="timeout"`)),
	}
}

// cpuTime is a process's user + system CPU time from /proc/<pid>/stat: the
// agent's own, not the bench's.
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
