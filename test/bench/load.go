package main

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// loadRow is one line of the throughput and cost table.
type loadRow struct {
	What       string  `json:"what"`
	TargetRate float64 `json:"target_opens_per_second"`
	Generated  float64 `json:"generated_opens_per_second"` // what the loop children did
	Rate       float64 `json:"events_per_second"`          // what the kernel wrote
	LossRate   float64 `json:"loss_fraction"`
	AgentCPU   float64 `json:"agent_cpu_cores"`
	AgentRSS   uint64  `json:"agent_rss_bytes"`
	// Short: the generator reached less than shortFraction of its target,
	// so the row says nothing of the agent's limit at the target.
	Short   bool   `json:"generator_short"`
	Command string `json:"command"`
}

const (
	loadTrial     = 2 * time.Second
	perChildLimit = 50_000 // opens/s one paced child is asked for at most: one fell short of 100 000 here
	shortFraction = 0.9
	// learnEvery makes every open of the learning container an event the
	// agent reads and learns (none is counted in the kernel).
	learnEvery = "--learn-window=0"
)

// loadAgent is the agent the load rows run beside: `vigil-agent run`
// learning the container and reporting every use.
func loadAgent(bin string) condition {
	return condition{
		name:    "agent run, learning every open",
		command: runCommand(bin, false, learnEvery) + "  # the container's image: no profile, learned",
		start: func(b *bench) (environment, error) {
			dir, err := runDir(b)
			if err != nil {
				return nil, err
			}
			a, err := startAgent(bin, runArgs(b.lab.daemon.Address, dir, "", learnEvery), true)
			if err != nil {
				return nil, err
			}
			if err := inForce(b, a, profile.ModeLearn, ""); err != nil {
				return nil, fmt.Errorf("load agent: %w", err)
			}
			return a, nil
		},
	}
}

// load runs open+close in the container at rate for d (in parallel
// children as needed) beside env and reports the rate generated, the rate
// the kernel saw, the loss and the agent's cost.
func (b *bench) load(what string, c condition, env environment, rate float64, d time.Duration) (loadRow, error) {
	before, err := env.sample()
	if err != nil {
		return loadRow{}, err
	}
	start := time.Now()
	done := 0
	if rate == 0 {
		time.Sleep(d)
	} else if done, err = b.paced(rate, d); err != nil {
		return loadRow{}, err
	}
	elapsed := time.Since(start)
	after, err := env.settle()
	if err != nil {
		return loadRow{}, err
	}
	seen := float64(after.kernel - before.kernel)
	r := loadRow{What: what, TargetRate: rate, Generated: float64(done) / d.Seconds(), Rate: seen / elapsed.Seconds(),
		AgentRSS: after.rss, AgentCPU: cores(before, after),
		Command: c.command + fmt.Sprintf("  # load: open+close of %s in the container, paced at %.0f/s for %s", oneFile, rate, d)}
	r.Short = rate > 0 && r.Generated < shortFraction*rate
	if seen > 0 {
		r.LossRate = float64(after.lost-before.lost) / seen
	}
	return r, nil
}

// paced runs ceil(rate/perChildLimit) loop children in the container
// sharing the rate, started together, and returns the opens they did.
func (b *bench) paced(rate float64, d time.Duration) (int, error) {
	children := int(math.Ceil(rate / perChildLimit))
	procs := make([]*loopProc, 0, children)
	defer func() {
		for _, lp := range procs {
			lp.kill()
		}
	}()
	for range children {
		lp, err := b.lab.startLoop(loopPaced, strconv.Itoa(int(rate)/children), strconv.Itoa(int(d/time.Millisecond)))
		if err != nil {
			return 0, err
		}
		procs = append(procs, lp)
	}
	var wg sync.WaitGroup
	ops := make([]int, children)
	errs := make([]error, children)
	for i, lp := range procs {
		wg.Go(func() { ops[i], _, errs[i] = lp.run() })
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			return 0, err
		}
		total += ops[i]
	}
	return total, nil
}

// throughput finds the highest open rate the agent takes with zero loss
// (doubling, then bisecting, on the rate generated), and measures the loss
// at 2× and 5× that. When the generator cannot reach a rate the search ends
// there, and the rows say so rather than call it the agent's limit.
func (b *bench) throughput(c condition, env environment) ([]loadRow, error) {
	lo, hi := 0.0, 0.0
	var best loadRow
	for rate := 25_000.0; rate <= 1_600_000; rate *= 2 {
		r, err := b.load("search", c, env, rate, loadTrial)
		if err != nil {
			return nil, err
		}
		if r.LossRate > 0 {
			hi = rate
			break
		}
		lo, best = r.Generated, r
		if r.Short {
			break
		}
	}
	for i := 0; hi > 0 && i < 3; i++ {
		mid := (lo + hi) / 2
		r, err := b.load("search", c, env, mid, loadTrial)
		if err != nil {
			return nil, err
		}
		if r.LossRate > 0 {
			hi = mid
		} else {
			lo, best = r.Generated, r
		}
	}
	best.What = "zero-loss maximum"
	switch {
	case hi == 0:
		best.What = "no loss at the generator's limit (agent's max is higher)"
	case best.Short:
		best.What += " (generator short)"
	}
	rows := []loadRow{best}
	for _, k := range []float64{2, 5} {
		r, err := b.load("", c, env, k*lo, loadTrial)
		if err != nil {
			return nil, err
		}
		r.What = fmt.Sprintf("%.0f× asked, %.1f× generated", k, r.Generated/lo)
		if r.Short {
			r.What += " (generator short)"
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// costs measures the agent at an idle node and at 1 000 opens/s.
func (b *bench) costs(c condition, env environment) ([]loadRow, error) {
	idle, err := b.load("idle node", c, env, 0, 3*time.Second)
	if err != nil {
		return nil, err
	}
	thousand, err := b.load("1 000 opens/s", c, env, 1000, 3*time.Second)
	if err != nil {
		return nil, err
	}
	return []loadRow{idle, thousand}, nil
}

func printLoad(r loadRow) {
	fmt.Printf("%-52s %9.0f/s target %9.0f/s generated %9.0f/s seen  loss %6.2f%%  agent %.3f cores  RSS %5.1f MiB\n    $ %s\n",
		r.What, r.TargetRate, r.Generated, r.Rate, 100*r.LossRate, r.AgentCPU, float64(r.AgentRSS)/(1<<20), r.Command)
}
