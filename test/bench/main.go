// Command bench measures what vigil costs the node: syscall loops with no
// agent and with the agent running, as ratios, plus the event rate the agent
// sustained and what it lost. `make bench` runs it as root.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/procfs"
)

// row is one line of the report.
type row struct {
	Workload   string  `json:"workload"`
	Condition  string  `json:"condition"`
	Ops        int     `json:"ops"`
	NsPerOp    float64 `json:"ns_per_op"`         // of the median run
	Ratio      float64 `json:"ratio_to_no_agent"` // the median of the rounds' ratios
	RatioMin   float64 `json:"ratio_min"`
	RatioMax   float64 `json:"ratio_max"`
	Events     uint64  `json:"events_delivered,omitempty"`
	Lost       uint64  `json:"events_lost"`
	EventsPerS float64 `json:"events_per_second,omitempty"`
	AgentCPU   float64 `json:"agent_cpu_cores,omitempty"`
	Command    string  `json:"command"`
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
	opens := flag.Int("opens", 500_000, "open+close iterations per run")
	execs := flag.Int("execs", 2000, "fork+exec iterations per run")
	connects := flag.Int("connects", 20_000, "connect iterations per run")
	runs := flag.Int("runs", 5, "rounds of every condition; the median is reported")
	alerts := flag.Int("alerts", 20_000, "alerts per collector ingest run")
	out := flag.String("out", "out/bench.json", "write the rows here as JSON")
	flag.Parse()

	if *runs < 1 {
		fail(fmt.Errorf("-runs %d: at least one round", *runs))
	}
	if os.Geteuid() != 0 {
		fail(fmt.Errorf("bench loads BPF programs: run it as root"))
	}
	b, cleanup, err := newBench()
	if err != nil {
		fail(err)
	}
	defer cleanup()
	conditions := []condition{noAgent(), bareSysExit(), traceAgent(*agent), enforcedAllowAll(), monitoredAllowAll(), learning()}

	fmt.Printf("vigil bench  %s  %s  %d CPUs  median of %d interleaved rounds (ratio: the median of each round's ratio; range: its lowest and highest)\n\n", time.Now().Format(time.RFC3339), kernelRelease(), runtime.NumCPU(), *runs)
	var rows []row
	for _, w := range workloads(*opens, *execs, *connects) {
		measured, err := b.measure(w, conditions, *runs)
		if err != nil {
			fail(err)
		}
		for _, r := range measured {
			printRow(r)
		}
		rows = append(rows, measured...)
	}
	fmt.Println("\nthroughput and cost of `vigil-agent run` (open+close from paced children; no containers to attribute):")
	stateDir := filepath.Join(b.dir, "state")
	agentRun := runAgent(*agent, stateDir)
	load, err := b.costs(agentRun)
	if err != nil {
		fail(err)
	}
	tp, err := b.throughput(agentRun)
	if err != nil {
		fail(err)
	}
	load = append(load, tp...)
	for _, r := range load {
		printLoad(r)
	}

	fmt.Println("\nkernel policy memory:")
	maps, err := policyMemory(100, 1000)
	if err != nil {
		fail(err)
	}
	var total uint64
	for _, m := range maps {
		total += m.Bytes
		fmt.Printf("%-16s %7d entries %8.1f MiB\n", m.Map, m.MapEntries, float64(m.Bytes)/(1<<20))
	}
	fmt.Printf("%-16s %7s         %8.1f MiB   $ %s\n", "total", "", float64(total)/(1<<20), maps[0].Command)

	fmt.Println("\ncollector ingest (mTLS gRPC, SQLite):")
	ingest, err := collectorIngest(*alerts)
	if err != nil {
		fail(err)
	}
	for _, r := range ingest {
		fmt.Printf("%2d agent streams  %9.0f alerts/s\n", r.Streams, r.Rate)
	}
	fmt.Printf("    $ %s\n", ingest[0].Command)

	report := map[string]any{"overhead": rows, "load": load, "policy_maps": maps, "collector": ingest}
	if err := writeJSON(*out, report); err != nil {
		fail(err)
	}
	fmt.Printf("\nrows written to %s\n", *out)
}

// newBench makes the cgroup and overlay layers the loop runs in, and the
// loopback listener it connects to.
func newBench() (*bench, func(), error) {
	root, err := cgroup.Mountpoint(procfs.DefaultRoot)
	if err != nil {
		return nil, nil, err
	}
	cgDir := filepath.Join(root, fmt.Sprintf("vigil-bench-%d", os.Getpid()))
	if err := os.Mkdir(cgDir, 0o755); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		os.Remove(cgDir)
		return nil, nil, err
	}
	b := &bench{dir: dir}
	cleanup := func() {
		if b.cgroup != nil {
			b.cgroup.Close()
		}
		if b.listener != nil {
			b.listener.Close()
		}
		os.RemoveAll(dir)
		for i := 0; i < 50 && os.Remove(cgDir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := prepareLayers(dir); err != nil {
		cleanup()
		return nil, nil, err
	}
	if b.cgroup, err = os.Open(cgDir); err != nil {
		cleanup()
		return nil, nil, err
	}
	if b.cgroupID, err = cgroup.ID(cgDir); err != nil {
		cleanup()
		return nil, nil, err
	}
	if b.listener, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		cleanup()
		return nil, nil, err
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
	return b, cleanup, nil
}

func printRow(r row) {
	fmt.Printf("%-12s %-22s %9d ops %10.0f ns/op  %5.2fx (%.2f–%.2f)", r.Workload, r.Condition, r.Ops, r.NsPerOp, r.Ratio, r.RatioMin, r.RatioMax)
	if r.Events > 0 || r.Lost > 0 {
		fmt.Printf("  %8.0f events/s  lost %d  agent %.2f cores", r.EventsPerS, r.Lost, r.AgentCPU)
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
