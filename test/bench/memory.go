package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memoryRate is the open rate of the memory rows' loaded phase: every open
// an event the agent reads, learns and counts.
const memoryRate = 1000

// memRow is the agent's memory over one phase of the memory rows, sampled
// once a second.
type memRow struct {
	Phase      string  `json:"phase"`
	Seconds    float64 `json:"seconds"`
	TargetRate float64 `json:"target_opens_per_second"`
	Generated  float64 `json:"generated_opens_per_second"`
	Rate       float64 `json:"events_per_second"` // what the kernel wrote
	Lost       uint64  `json:"events_lost"`
	Samples    int     `json:"samples"`
	RSSMin     uint64  `json:"rss_min_bytes"`
	RSSMedian  uint64  `json:"rss_median_bytes"`
	RSSMax     uint64  `json:"rss_max_bytes"`
	// The median sample's split (memSample).
	Anon    uint64 `json:"rss_anon_bytes"`
	BPF     uint64 `json:"rss_bpf_maps_bytes"`
	File    uint64 `json:"rss_file_bytes"`
	Command string `json:"command"`
}

// memory measures `vigil-agent run` learning the lab's container: idle
// (the container sleeps) for idle, then at memoryRate opens/s for loaded.
// It fails when the generator falls short of the rate: a row at a lower
// rate would read better than the agent is.
func (b *bench) memory(bin string, idle, loaded time.Duration) ([]memRow, error) {
	c := loadAgent(bin)
	if err := b.lab.start(); err != nil {
		return nil, err
	}
	env, err := c.start(b)
	if err != nil {
		return nil, err
	}
	a := env.(*runningAgent)
	rows, err := b.memoryPhases(a, c, idle, loaded)
	if serr := a.stop(); err == nil && serr != nil {
		err = fmt.Errorf("stop the agent: %w", serr)
	}
	return rows, err
}

func (b *bench) memoryPhases(a *runningAgent, c condition, idle, loaded time.Duration) ([]memRow, error) {
	idleRow, err := b.memoryPhase(a, "idle node", idle, 0)
	if err != nil {
		return nil, err
	}
	idleRow.Command = c.command + fmt.Sprintf("  # nothing runs in the container for %s", idle)
	load, err := b.memoryPhase(a, fmt.Sprintf("%d opens/s", memoryRate), loaded, memoryRate)
	if err != nil {
		return nil, err
	}
	load.Command = c.command + fmt.Sprintf("  # open+close of %s in the container, paced at %d/s for %s", oneFile, memoryRate, loaded)
	if load.Generated < shortFraction*memoryRate {
		return nil, fmt.Errorf("the generator reached %.0f opens/s of the %d asked: the row would not say what the agent holds at that rate", load.Generated, memoryRate)
	}
	return []memRow{idleRow, load}, nil
}

// memoryPhase samples the agent's memory once a second for d while the
// container opens at rate (none at 0), then waits for the agent to settle.
func (b *bench) memoryPhase(a *runningAgent, phase string, d time.Duration, rate float64) (memRow, error) {
	before, err := a.sample()
	if err != nil {
		return memRow{}, err
	}
	var (
		mu      sync.Mutex
		samples []memSample
		serr    error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			s, err := memoryOf(a.cmd.Process.Pid)
			mu.Lock()
			if err != nil && serr == nil {
				serr = err
			}
			samples = append(samples, s)
			mu.Unlock()
		}
	})
	start := time.Now()
	done := 0
	if rate == 0 {
		time.Sleep(d)
	} else {
		done, err = b.paced(rate, d, nil)
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err == nil {
		err = serr
	}
	if err != nil {
		return memRow{}, err
	}
	if len(samples) == 0 {
		return memRow{}, fmt.Errorf("no memory sample of the agent in %s", d)
	}
	after, err := a.settle()
	if err != nil {
		return memRow{}, err
	}
	slices.SortFunc(samples, func(x, y memSample) int { return int(int64(x.rss) - int64(y.rss)) })
	med := samples[len(samples)/2]
	return memRow{
		Phase: phase, Seconds: elapsed.Seconds(), TargetRate: rate, Generated: float64(done) / d.Seconds(),
		Rate: float64(after.kernel-before.kernel) / elapsed.Seconds(), Lost: after.lost - before.lost,
		Samples: len(samples), RSSMin: samples[0].rss, RSSMedian: med.rss, RSSMax: samples[len(samples)-1].rss,
		Anon: med.anon, BPF: med.bpf, File: med.file,
	}, nil
}

// memSample is a process's resident memory at one moment, and its split:
// anonymous pages (Go's heap, stacks and runtime), the BPF maps mapped into
// it (the ring buffers), and file pages (the binary's).
type memSample struct{ rss, anon, bpf, file uint64 }

// memoryOf reads a process's resident memory from /proc/PID/smaps.
func memoryOf(pid int) (memSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return memSample{}, err
	}
	var s memSample
	bpfMap := false
	for line := range strings.SplitSeq(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(name, " ") { // a mapping's first line
			f := strings.Fields(line)
			bpfMap = len(f) >= 6 && strings.HasPrefix(f[5], "anon_inode:bpf")
			continue
		}
		if name != "Rss" && name != "Anonymous" {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/smaps %q: %w", pid, line, err)
		}
		switch {
		case name == "Anonymous":
			s.anon += kb << 10
		case bpfMap:
			s.rss += kb << 10
			s.bpf += kb << 10
		default:
			s.rss += kb << 10
		}
	}
	if s.rss == 0 {
		return s, fmt.Errorf("/proc/%d/smaps: no resident memory", pid)
	}
	s.file = s.rss - s.anon - s.bpf
	return s, nil
}

func printMemory(r memRow) {
	mib := func(n uint64) float64 { return float64(n) / (1 << 20) }
	fmt.Printf("%-14s %5.0f s  %6.0f/s generated %6.0f/s seen  lost %d  RSS %5.1f MiB (%.1f–%.1f, %d samples): anon %.1f, BPF maps %.1f, file %.1f\n    $ %s\n",
		r.Phase, r.Seconds, r.Generated, r.Rate, r.Lost, mib(r.RSSMedian), mib(r.RSSMin), mib(r.RSSMax), r.Samples,
		mib(r.Anon), mib(r.BPF), mib(r.File), r.Command)
}
