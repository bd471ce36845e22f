package main

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// workload is a loop the child runs in the container.
type workload struct {
	name    string
	args    []string // the loop's kind and count, and what else it needs
	ops     int
	command string // how to reproduce it by hand
}

func (b *bench) workloads(opens, execs, connects int) []workload {
	n := strconv.Itoa
	return []workload{
		{"open one", []string{loopOpenOne, n(opens)}, opens,
			fmt.Sprintf("%d × open(O_RDONLY)+close of %s in the container", opens, oneFile)},
		{"open many", []string{loopOpenMany, n(opens)}, opens,
			fmt.Sprintf("%d × open(O_RDONLY)+close round-robin over %d files in %d directories of the container's image", opens, len(treeFiles()), confDirs+libDirs)},
		{"fork+exec", []string{loopExec, n(execs)}, execs,
			fmt.Sprintf("%d × fork+exec+wait of /bin/busybox true in the container", execs)},
		{"connect", []string{loopConnect, n(connects), b.listener.Addr().String()}, connects,
			fmt.Sprintf("%d × TCP connect+close to a loopback listener from the container (host network)", connects)},
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
}

// measure runs every workload under every condition, rounds times. Each
// round starts each condition once and runs every workload under it; the
// order of conditions rotates from round to round, so that no condition
// always runs first or right after another. A condition's ratio is the
// median of its ratio to the baseline of the same round: a node whose speed
// drifts from minute to minute (a busy hypervisor) moves both sides of a
// round alike.
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
	for round := range rounds {
		for k := range conditions {
			ci := (k + round) % len(conditions)
			rs, err := b.underCondition(ws, conditions[ci])
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round+1, conditions[ci].name, err)
			}
			for wi, r := range rs {
				runs[wi][ci] = append(runs[wi][ci], r)
			}
		}
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
// by the agent settling, and stops it.
func (b *bench) underCondition(ws []workload, c condition) ([]row, error) {
	env, err := c.start(b)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, w := range ws {
		var r row
		if r, err = b.measureOnce(w, c, env); err != nil {
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
	if ops != w.ops {
		return row{}, fmt.Errorf("the loop did %d operations of %d", ops, w.ops)
	}
	after, err := env.settle()
	if err != nil {
		return row{}, err
	}
	r := resultRow(w, c, elapsed, before, after)
	_, r.agent = env.(*runningAgent)
	return r, nil
}

func resultRow(w workload, c condition, elapsed time.Duration, before, after sample) row {
	r := row{
		Workload:  w.name,
		Condition: c.name,
		Ops:       w.ops,
		NsPerOp:   float64(elapsed.Nanoseconds()) / float64(w.ops),
		Events:    after.delivered - before.delivered,
		Lost:      after.lost - before.lost,
		Alerts:    after.alerts - before.alerts,
		Command:   c.command + "  # workload: " + w.command,
	}
	secs := elapsed.Seconds()
	r.EventsPerS = float64(r.Events) / secs
	r.AgentCPU = (after.cpu - before.cpu).Seconds() / secs
	return r
}
