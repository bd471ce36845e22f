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
	// Generated and Rate are per second of the children's run, from the
	// moment they were told to go to their last result: the children's
	// start-up counts in neither.
	Generated float64 `json:"generated_opens_per_second"` // what the loop children did
	Rate      float64 `json:"events_per_second"`          // what the kernel wrote
	LossRate  float64 `json:"loss_fraction"`
	AgentCPU  float64 `json:"agent_cpu_cores"`
	AgentRSS  uint64  `json:"agent_rss_bytes"`
	// Short: the generator reached less than shortFraction of its target,
	// so the row says nothing of the agent's limit at the target.
	Short bool `json:"generator_short"`
	// The throughput search's bracket, both rates generated: the highest
	// without loss and the lowest with loss (0: none had loss).
	NoLossUpTo float64 `json:"no_loss_up_to_generated,omitempty"`
	LossFrom   float64 `json:"loss_from_generated,omitempty"`
	// Skipped says why the row was not measured.
	Skipped string `json:"skipped,omitempty"`
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
// the kernel saw, both over the children's run, the loss and the agent's
// cost.
func (b *bench) load(what string, c condition, env environment, rate float64, d time.Duration) (loadRow, error) {
	var before, end sample
	var err error
	ops := 0
	if rate == 0 {
		if before, err = env.sample(); err == nil {
			time.Sleep(d)
		}
	} else {
		ops, err = b.paced(rate, d, func() (err error) { before, err = env.sample(); return err })
	}
	if err != nil {
		return loadRow{}, err
	}
	// The kernel's count when the children are done (read from its maps
	// at each scrape); the loss and the cost once the agent caught up.
	if end, err = env.sample(); err != nil {
		return loadRow{}, err
	}
	after, err := env.settle()
	if err != nil {
		return loadRow{}, err
	}
	elapsed := end.at.Sub(before.at).Seconds()
	r := loadRow{What: what, TargetRate: rate, Generated: float64(ops) / elapsed, Rate: float64(end.kernel-before.kernel) / elapsed,
		AgentRSS: after.rss, AgentCPU: cores(before, after),
		Command: c.command + fmt.Sprintf("  # load: open+close of %s in the container, paced at %.0f/s for %s", oneFile, rate, d)}
	r.Short = rate > 0 && r.Generated < shortFraction*rate
	if seen := after.kernel - before.kernel; seen > 0 {
		r.LossRate = float64(after.lost-before.lost) / float64(seen)
	}
	return r, nil
}

// paced runs ceil(rate/perChildLimit) loop children in the container
// sharing the rate. Once every child is ready it calls atGo (when not nil)
// and tells them all to go. It returns the opens they did.
func (b *bench) paced(rate float64, d time.Duration, atGo func() error) (int, error) {
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
	if atGo != nil {
		if err := atGo(); err != nil {
			return 0, err
		}
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

// search is the throughput search's bracket, from the rates the generator
// reached, never the rates asked of it.
type search struct {
	lo, hi       float64 // the highest rate generated without loss, the lowest with loss (0: none)
	loRow, hiRow loadRow
	limit        float64 // the highest rate generated by a trial that fell short (0: none did)
}

func (s *search) add(r loadRow) {
	if r.Short {
		s.limit = max(s.limit, r.Generated)
	}
	switch {
	case r.LossRate > 0 && (s.hi == 0 || r.Generated < s.hi):
		s.hi, s.hiRow = r.Generated, r
	case r.LossRate == 0 && r.Generated > s.lo:
		s.lo, s.loRow = r.Generated, r
	}
}

// open says whether bisecting can narrow the bracket: loss was seen above
// a loss-free rate, more than 5% above it.
func (s *search) open() bool { return s.hi > 0 && s.hi > 1.05*s.lo }

// result is the search's row: the bracket, or why there is none.
func (s *search) result() loadRow {
	r := s.loRow
	if s.lo == 0 {
		r = s.hiRow
	}
	r.NoLossUpTo, r.LossFrom = s.lo, s.hi
	switch {
	case s.hi == 0 && s.limit > 0:
		r.What = fmt.Sprintf("no loss up to the generator's limit (%.0f/s)", s.limit)
	case s.hi == 0:
		r.What = fmt.Sprintf("no loss up to the search's highest rate (%.0f/s)", s.lo)
	case s.lo == 0:
		r.What = fmt.Sprintf("loss already at %.0f/s, the search's lowest rate", s.hi)
	case s.hi <= s.lo:
		r.What = fmt.Sprintf("loss at %.0f/s but none at %.0f/s: noise", s.hi, s.lo)
	default:
		r.What = fmt.Sprintf("zero-loss maximum between %.0f/s and %.0f/s", s.lo, s.hi)
	}
	return r
}

// multiple is the row of k times the zero-loss rate, or a skipped row when
// the generator cannot reach it: known from the search, or found now.
func (s *search) multiple(k float64, measure func(rate float64) (loadRow, error)) (loadRow, error) {
	what := fmt.Sprintf("%.0f× the zero-loss rate", k)
	target := k * s.lo
	skip := func(why string) (loadRow, error) {
		return loadRow{What: what, TargetRate: target, Skipped: why}, nil
	}
	switch {
	case s.lo == 0:
		return skip("no zero-loss rate to multiply")
	case s.limit > 0 && s.limit < shortFraction*target:
		return skip(fmt.Sprintf("the generator reaches at most %.0f/s", s.limit))
	}
	r, err := measure(target)
	if err != nil {
		return loadRow{}, err
	}
	if r.Short {
		return skip(fmt.Sprintf("the generator reached only %.0f/s", r.Generated))
	}
	r.What = fmt.Sprintf("%s: %.1f× generated", what, r.Generated/s.lo)
	return r, nil
}

// throughput finds the highest open rate the agent takes with zero loss
// (doubling, then bisecting), bracketed by rates generated, and measures
// the loss at 2× and 5× that rate when the generator reaches them.
func (b *bench) throughput(c condition, env environment) ([]loadRow, error) {
	var s search
	for rate := 25_000.0; rate <= 1_600_000; rate *= 2 {
		r, err := b.load("search", c, env, rate, loadTrial)
		if err != nil {
			return nil, err
		}
		s.add(r)
		if r.LossRate > 0 || r.Short {
			break
		}
	}
	for i := 0; s.open() && i < 3; i++ {
		r, err := b.load("search", c, env, (s.lo+s.hi)/2, loadTrial)
		if err != nil {
			return nil, err
		}
		s.add(r)
	}
	rows := []loadRow{s.result()}
	for _, k := range []float64{2, 5} {
		r, err := s.multiple(k, func(rate float64) (loadRow, error) { return b.load("", c, env, rate, loadTrial) })
		if err != nil {
			return nil, err
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
	if r.Skipped != "" {
		fmt.Printf("%-52s %9.0f/s target  skipped: %s\n", r.What, r.TargetRate, r.Skipped)
		return
	}
	fmt.Printf("%-52s %9.0f/s target %9.0f/s generated %9.0f/s seen  loss %6.2f%%  agent %.3f cores  RSS %5.1f MiB\n    $ %s\n",
		r.What, r.TargetRate, r.Generated, r.Rate, 100*r.LossRate, r.AgentCPU, float64(r.AgentRSS)/(1<<20), r.Command)
}
