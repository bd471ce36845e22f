// Command bench measures what vigil costs the node: syscall loops with no
// agent and with the agent running, as ratios, plus the event rate the agent
// sustained and what it lost. `make bench` runs it as root.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// row is one line of the report.
type row struct {
	Workload         string  `json:"workload"`
	Condition        string  `json:"condition"`
	Ops              int     `json:"ops"`
	NsPerOp          float64 `json:"ns_per_op"`         // of the median run
	Ratio            float64 `json:"ratio_to_no_agent"` // the median of the rounds' ratios
	RatioMin         float64 `json:"ratio_min"`
	RatioMax         float64 `json:"ratio_max"`
	Events           uint64  `json:"events_delivered,omitempty"`
	Lost             uint64  `json:"events_lost"`
	EventsPerS       float64 `json:"events_per_second,omitempty"`
	AgentCPU         float64 `json:"agent_cpu_cores,omitempty"`
	Alerts           uint64  `json:"alerts"`            // sent, or repeats folded into a summary
	FanotifyTimeouts uint64  `json:"fanotify_timeouts"` // opens let through at the deadline
	Command          string  `json:"command"`
	agent            bool    // an agent ran: its columns are printed
}

func main() {
	if os.Getenv(loopEnv) != "" {
		if err := runLoop(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench loop:", err)
			os.Exit(1)
		}
		return
	}
	agent := flag.String("agent", "bin/vigil-agent", "the vigil-agent binary")
	opens := flag.Int("opens", 200_000, "open+close iterations per run of each open loop, at most")
	execs := flag.Int("execs", 1000, "fork+exec iterations per run, at most")
	connects := flag.Int("connects", 10_000, "connect iterations per run, at most")
	limit := flag.Duration("loop-limit", 2*time.Second, "each run of a loop stops after its iterations or this long, whichever comes first")
	runs := flag.Int("runs", 6, "rounds of every condition; the median is reported (6, one row of the balanced Latin square each, puts each of the six conditions once in each place and once right after each other)")
	alerts := flag.Int("alerts", 20_000, "alerts per collector ingest run")
	out := flag.String("out", "out/bench.json", "write the rows here as JSON")
	memory := flag.Bool("memory", false, "measure only the agent's memory: `vigil-agent run` learning the container, idle, then at 1 000 opens/s")
	memIdle := flag.Duration("memory-idle", time.Minute, "-memory: how long the idle phase lasts")
	memLoad := flag.Duration("memory-load", 30*time.Second, "-memory: how long the loaded phase lasts")
	flag.Parse()

	if *runs < 1 {
		fail(fmt.Errorf("-runs %d: at least one round", *runs))
	}
	if os.Geteuid() != 0 {
		fail(fmt.Errorf("bench loads BPF programs and runs containerd: run it as root"))
	}
	b, cleanup, err := newBench()
	if err != nil {
		fail(err)
	}
	var report map[string]any
	if *memory {
		report, err = b.runMemory(*agent, *memIdle, *memLoad)
	} else {
		report, err = b.run(*agent, *opens, *execs, *connects, *limit, *runs, *alerts)
	}
	if cerr := cleanup(); err == nil {
		err = cerr
	}
	if err != nil {
		fail(err)
	}
	if err := writeJSON(*out, report); err != nil {
		fail(err)
	}
	fmt.Printf("\nrows written to %s\n", *out)
}

// run measures everything and prints it as it goes.
func (b *bench) run(agent string, opens, execs, connects int, limit time.Duration, runs, alerts int) (map[string]any, error) {
	learned, err := b.learnProfile(agent)
	if err != nil {
		return nil, err
	}
	conditions := []condition{noAgent(), bareSysExit(), traceAgent(agent),
		agentRun(agent, profile.ModeEnforce), agentRun(agent, profile.ModeMonitor), agentRun(agent, profile.ModeLearn)}

	fmt.Printf("vigil bench  %s  %s  %d CPUs  median of %d rounds, each running the conditions in the order of a row of a balanced Latin square of %d rows (ratio: the median of each round's ratio; range: its lowest and highest)\n",
		time.Now().Format(time.RFC3339), kernelRelease(), runtime.NumCPU(), runs, len(roundOrders(len(conditions))))
	sp := learned.Spec
	fmt.Printf("every loop runs in a container of %s under containerd; the profile was learned by vigil-agent run: %d executables, %d files, %d network, %d capabilities\n",
		labImage, len(sp.Executables), len(sp.Files), len(sp.Network), len(sp.Capabilities))
	fmt.Printf("events/s: what the agent read while the loop ran, the node's other processes' events included; alerts: those the loop caused, repeats folded into a summary included (the profile allows all of it: 0, else the bench fails); timeouts: opens the fanotify tier let through at its deadline (0, else the bench fails); agent cores: the agent process's CPU from the loop's start until it had handled every event\n\n")
	rows, err := b.measure(b.workloads(opens, execs, connects, limit), conditions, runs)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		printRow(r)
	}
	fmt.Printf("\nchecked at each start and after each of the %d enforced and %d monitored rows: a forbidden open (of %s…, a file not opened before in that agent's run, so a first alert, never a repeat) was %s and reported in the enforced container, %s and reported in the monitored one; every agent row: no alert from its loop, no open let through at the fanotify deadline\n",
		b.rechecks[profile.ModeEnforce], b.rechecks[profile.ModeMonitor], forbiddenFiles[0], b.forbidden[profile.ModeEnforce], b.forbidden[profile.ModeMonitor])

	fmt.Println("\nthroughput and cost of `vigil-agent run` (open+close from paced children in the learning container, every open an event; generated: the opens the children did, seen: every event the kernel wrote, the node's other processes' included, both per second of the children's run from their go to their last result, their start-up excluded; the zero-loss search doubles, then bisects, and brackets the maximum between rates generated):")
	load, err := b.loadRows(loadAgent(agent))
	if err != nil {
		return nil, err
	}
	for _, r := range load {
		printLoad(r)
	}

	fmt.Println("\nkernel policy memory:")
	maps, err := policyMemory(100, 1000)
	if err != nil {
		return nil, err
	}
	var total uint64
	for _, m := range maps {
		total += m.Bytes
		fmt.Printf("%-16s %7d entries %8.1f MiB\n", m.Map, m.MapEntries, float64(m.Bytes)/(1<<20))
	}
	fmt.Printf("%-16s %7s         %8.1f MiB   $ %s\n", "total", "", float64(total)/(1<<20), maps[0].Command)

	fmt.Println("\ncollector ingest (mTLS gRPC, SQLite):")
	ingest, err := collectorIngest(alerts)
	if err != nil {
		return nil, err
	}
	for _, r := range ingest {
		fmt.Printf("%2d agent streams  %9.0f alerts/s\n", r.Streams, r.Rate)
	}
	fmt.Printf("    $ %s\n", ingest[0].Command)
	return map[string]any{"overhead": rows, "load": load, "policy_maps": maps, "collector": ingest}, nil
}

// runMemory measures the agent's memory alone and prints it.
func (b *bench) runMemory(agent string, idle, loaded time.Duration) (map[string]any, error) {
	fmt.Printf("vigil bench -memory  %s  %s  %d CPUs\n", time.Now().Format(time.RFC3339), kernelRelease(), runtime.NumCPU())
	fmt.Printf("vigil-agent run learning a container of %s under containerd, every open an event; its memory sampled once a second (RSS: the median sample, with the lowest and highest; anon (Go's heap, stacks, runtime), BPF maps (the ring buffers) and file (the binary's pages): the median sample's, from /proc/PID/smaps); lost: every event the agent counted lost in the phase\n\n", labImage)
	rows, err := b.memory(agent, idle, loaded)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		printMemory(r)
	}
	return map[string]any{"memory": rows}, nil
}

// loadRows starts c once and measures its costs and throughput.
func (b *bench) loadRows(c condition) ([]loadRow, error) {
	env, err := c.start(b)
	if err != nil {
		return nil, err
	}
	rows, err := b.costs(c, env)
	if err == nil {
		var tp []loadRow
		tp, err = b.throughput(c, env)
		rows = append(rows, tp...)
	}
	if serr := env.stop(); err == nil && serr != nil {
		err = fmt.Errorf("stop the load agent: %w", serr)
	}
	return rows, err
}

// newBench starts the lab (containerd and the loops' container) and the
// loopback listener the connect loop reaches.
func newBench() (*bench, func() error, error) {
	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		return nil, nil, err
	}
	b := &bench{dir: dir, profiles: map[profile.Mode]string{}, forbidden: map[profile.Mode]string{}, rechecks: map[profile.Mode]int{}}
	cleanup := func() error {
		var errs []error
		if b.lab != nil {
			errs = append(errs, b.lab.close())
		}
		if b.listener != nil {
			errs = append(errs, b.listener.Close())
		}
		return errors.Join(append(errs, os.RemoveAll(dir))...)
	}
	if b.listener, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		return nil, nil, errors.Join(err, cleanup())
	}
	go func() {
		for {
			c, err := b.listener.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if b.lab, err = startLab(filepath.Join(dir, "containerd")); err != nil {
		return nil, nil, errors.Join(err, cleanup())
	}
	return b, cleanup, nil
}

func printRow(r row) {
	fmt.Printf("%-12s %-22s %9d ops %10.0f ns/op  %5.2fx (%.2f–%.2f)", r.Workload, r.Condition, r.Ops, r.NsPerOp, r.Ratio, r.RatioMin, r.RatioMax)
	if r.agent {
		fmt.Printf("  %8.0f events/s  lost %d  alerts %d  timeouts %d  agent %.2f cores", r.EventsPerS, r.Lost, r.Alerts, r.FanotifyTimeouts, r.AgentCPU)
	}
	fmt.Printf("\n    $ %s\n", r.Command)
}

func writeJSON(path string, rows any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown kernel"
	}
	return "Linux " + string(b[:len(b)-1])
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
