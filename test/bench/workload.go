package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// workload is a loop the child runs in the container.
type workload struct {
	name    string
	args    []string // the loop's arguments (runLoop)
	ops     int      // at most
	command string   // how to reproduce it by hand
}

// workloads are the loops, each stopping after its count or limit,
// whichever comes first (a slow condition runs fewer operations).
func (b *bench) workloads(opens, execs, connects int, limit time.Duration) []workload {
	ms := strconv.Itoa(int(limit / time.Millisecond))
	within := fmt.Sprintf(" (or as many as %s allows)", limit)
	w := func(name, kind string, n int, command string) workload {
		return workload{name, []string{kind, strconv.Itoa(n), ms, b.listener.Addr().String()}, n,
			fmt.Sprintf("%d × %s%s", n, command, within)}
	}
	return []workload{
		w("open one", loopOpenOne, opens, "open(O_RDONLY)+close of "+oneFile+" in the container"),
		w("open many", loopOpenMany, opens, fmt.Sprintf("open(O_RDONLY)+close round-robin over %d files in %d directories of the container's image", len(treeFiles()), confDirs+libDirs)),
		w("fork+exec", loopExec, execs, "fork+exec+wait of /bin/busybox true in the container"),
		w("connect", loopConnect, connects, "TCP connect+close to a loopback listener from the container (host network)"),
	}
}

// bench is what every run shares: the container the loops run in, the
// listener they connect to, the learned profile's directories.
type bench struct {
	dir       string
	lab       *lab
	listener  net.Listener
	profiles  map[profile.Mode]string // --profiles-dir per mode
	forbidden map[profile.Mode]string // what the forbidden open did, per mode
	rechecks  map[profile.Mode]int    // forbidden opens checked after a row, per mode
	agentRuns int                     // state directories made (runDir)
}

// measure runs every workload under every condition, rounds times. Each
// round starts each condition once and runs every workload under it, in
// the order of a row of a balanced Latin square (roundOrders), so that no
// condition always runs first or right after another. A condition's ratio
// is the median of its ratio to the baseline of the same round: a node
// whose speed drifts from minute to minute (a busy hypervisor) moves both
// sides of a round alike.
func (b *bench) measure(ws []workload, conditions []condition, rounds int) ([]row, error) {
	// runs[w][c] are the rounds' rows.
	runs := make([][][]row, len(ws))
	for i := range runs {
		runs[i] = make([][]row, len(conditions))
	}
	base := -1
	for i, c := range conditions {
		if c.baseline {
			base = i
		}
	}
	if base < 0 {
		return nil, errors.New("no baseline condition")
	}
	orders := roundOrders(len(conditions))
	for round := range rounds {
		for _, ci := range orders[round%len(orders)] {
			rs, err := b.underCondition(ws, conditions[ci])
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round+1, conditions[ci].name, err)
			}
			for wi, r := range rs {
				runs[wi][ci] = append(runs[wi][ci], r)
			}
		}
		fmt.Fprintf(os.Stderr, "bench: round %d of %d measured\n", round+1, rounds)
	}
	var rows []row
	for wi := range ws {
		for ci := range conditions {
			rs := runs[wi][ci]
			ratios := make([]float64, rounds)
			for round, r := range rs {
				ratios[round] = r.NsPerOp / runs[wi][base][round].NsPerOp
			}
			sort.Slice(rs, func(a, b int) bool { return rs[a].NsPerOp < rs[b].NsPerOp })
			sort.Float64s(ratios)
			r := rs[rounds/2]
			r.Ratio, r.RatioMin, r.RatioMax = ratios[rounds/2], ratios[0], ratios[rounds-1]
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// underCondition starts c, runs each workload once under it, each followed
// by the agent settling and by checkRow and c.check, and stops it.
func (b *bench) underCondition(ws []workload, c condition) ([]row, error) {
	env, err := c.start(b)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, w := range ws {
		var r row
		if r, err = b.measureOnce(w, c, env); err == nil {
			err = checkRow(r)
		}
		if err == nil && c.check != nil {
			err = c.check(b, env)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", w.name, err)
			break
		}
		rows = append(rows, r)
	}
	if serr := env.stop(); err == nil && serr != nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	return rows, err
}

func (b *bench) measureOnce(w workload, c condition, env environment) (row, error) {
	lp, err := b.lab.startLoop(w.args...)
	if err != nil {
		return row{}, err
	}
	before, err := env.sample()
	if err != nil {
		lp.kill()
		return row{}, err
	}
	ops, elapsed, err := lp.run()
	if err != nil {
		return row{}, err
	}
	if ops == 0 {
		return row{}, fmt.Errorf("the loop did no operation in %s", elapsed)
	}
	after, err := env.settle()
	if err != nil {
		return row{}, err
	}
	r := resultRow(w, c, ops, elapsed, before, after)
	_, r.agent = env.(*runningAgent)
	return r, nil
}

// checkRow fails a row whose figures do not describe the product judging
// as it should: the profile allows every loop, so a loop that caused an
// alert was judged wrong, and an open let through at the fanotify deadline
// was never judged at all.
func checkRow(r row) error {
	var errs []error
	if r.Alerts > 0 {
		errs = append(errs, fmt.Errorf("the loop caused %d alerts; the profile allows all of it", r.Alerts))
	}
	if r.FanotifyTimeouts > 0 {
		errs = append(errs, fmt.Errorf("%d opens let through unjudged at the fanotify deadline", r.FanotifyTimeouts))
	}
	return errors.Join(errs...)
}

// cores is the agent's CPU use between two samples, in cores: the loop and
// the agent's catching up after it.
func cores(before, after sample) float64 {
	if d := after.at.Sub(before.at); d > 0 {
		return (after.cpu - before.cpu).Seconds() / d.Seconds()
	}
	return 0
}

func resultRow(w workload, c condition, ops int, elapsed time.Duration, before, after sample) row {
	r := row{
		Workload:         w.name,
		Condition:        c.name,
		Ops:              ops,
		NsPerOp:          float64(elapsed.Nanoseconds()) / float64(ops),
		Events:           after.delivered - before.delivered,
		Lost:             after.lost - before.lost,
		Alerts:           after.alerts - before.alerts,
		FanotifyTimeouts: after.timeouts - before.timeouts,
		Command:          c.command + "  # workload: " + w.command,
	}
	r.EventsPerS = float64(r.Events) / elapsed.Seconds()
	r.AgentCPU = cores(before, after)
	return r
}
