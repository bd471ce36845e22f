package main

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// loadRow is one line of the throughput and cost table.
type loadRow struct {
	What       string  `json:"what"`
	TargetRate float64 `json:"target_events_per_second"`
	Rate       float64 `json:"events_per_second"` // what the kernel saw
	LossRate   float64 `json:"loss_fraction"`
	AgentCPU   float64 `json:"agent_cpu_cores"`
	AgentRSS   uint64  `json:"agent_rss_bytes"`
	Command    string  `json:"command"`
}

const (
	loadTrial     = 2 * time.Second
	perChildLimit = 100_000 // opens/s one paced child is asked for at most
)

// load runs open+close at rate for d (in parallel children as needed)
// beside condition c and reports the rate the kernel saw, the loss and the
// agent's cost.
func (b *bench) load(what string, c condition, rate float64, d time.Duration) (loadRow, error) {
	env, err := c.start(b)
	if err != nil {
		return loadRow{}, err
	}
	defer env.stop()
	time.Sleep(200 * time.Millisecond) // the agent settles after start
	before, err := env.sample()
	if err != nil {
		return loadRow{}, err
	}
	start := time.Now()
	if rate == 0 {
		time.Sleep(d)
	} else if err := b.paced(rate, d); err != nil {
		return loadRow{}, err
	}
	elapsed := time.Since(start)
	after, err := env.settle(before)
	if err != nil {
		return loadRow{}, err
	}
	seen := float64(after.kernel - before.kernel)
	r := loadRow{What: what, TargetRate: rate, Rate: seen / elapsed.Seconds(), AgentRSS: after.rss,
		AgentCPU: (after.cpu - before.cpu).Seconds() / elapsed.Seconds(),
		Command:  c.command + fmt.Sprintf("  # load: open+close paced at %.0f/s for %s", rate, d)}
	if seen > 0 {
		r.LossRate = float64(after.lost-before.lost) / seen
	}
	return r, nil
}

// paced runs ceil(rate/perChildLimit) loop children sharing the rate.
func (b *bench) paced(rate float64, d time.Duration) error {
	children := int(math.Ceil(rate / perChildLimit))
	var wg sync.WaitGroup
	errs := make([]error, children)
	for i := range children {
		wg.Go(func() {
			w := workload{kind: "rate", ops: int(rate) / children}
			_, errs[i] = b.loopArgs(w, strconv.Itoa(int(d/time.Millisecond)))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// throughput finds the highest open rate the agent takes with zero loss
// (doubling, then bisecting), and measures the loss at 2× and 5× that.
func (b *bench) throughput(c condition) ([]loadRow, error) {
	lo, hi := 0.0, 0.0
	var best loadRow
	for rate := 25_000.0; rate <= 1_600_000; rate *= 2 {
		r, err := b.load("search", c, rate, loadTrial)
		if err != nil {
			return nil, err
		}
		if r.LossRate > 0 {
			hi = rate
			break
		}
		lo, best = rate, r
		if r.Rate < 0.8*rate { // the generator, not the agent, is the limit
			break
		}
	}
	for i := 0; hi > 0 && i < 3; i++ {
		mid := (lo + hi) / 2
		r, err := b.load("search", c, mid, loadTrial)
		if err != nil {
			return nil, err
		}
		if r.LossRate > 0 {
			hi = mid
		} else {
			lo, best = mid, r
		}
	}
	best.What = "zero-loss maximum"
	if hi == 0 {
		best.What = "zero-loss maximum (no loss at the generator's limit)"
	}
	rows := []loadRow{best}
	for _, k := range []float64{2, 5} {
		r, err := b.load(fmt.Sprintf("%.0f× the zero-loss rate", k), c, k*lo, loadTrial)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// costs measures the agent at an idle node and at 1 000 events/s.
func (b *bench) costs(c condition) ([]loadRow, error) {
	idle, err := b.load("idle node", c, 0, 3*time.Second)
	if err != nil {
		return nil, err
	}
	thousand, err := b.load("1 000 events/s", c, 1000, 3*time.Second)
	if err != nil {
		return nil, err
	}
	return []loadRow{idle, thousand}, nil
}

func printLoad(r loadRow) {
	fmt.Printf("%-44s %9.0f/s target %9.0f/s seen  loss %6.2f%%  agent %.3f cores  RSS %5.1f MiB\n    $ %s\n",
		r.What, r.TargetRate, r.Rate, 100*r.LossRate, r.AgentCPU, float64(r.AgentRSS)/(1<<20), r.Command)
}
