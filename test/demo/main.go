// Command demo shows vigil on a bare node within a minute: it starts a
// collector and the agent as `make run` does, a private containerd when the
// node has none, and a container of a locally built image; then it walks the
// image through learning (its draft profile grows), monitor (something new
// is alerted) and enforce (something outside the profile is refused in the
// kernel), printing the command that shows each step. Ctrl-C, or the end,
// stops everything: the container, the private containerd, the agent, then
// the collector. `make demo` runs it as root.
//
// It lives under test/ because it is built from the test harness's parts (a
// private containerd, registry-free images: test/containerd/ctrd) and ships
// in no image; test/demo's test runs it end to end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-dev/vigil/pkg/cliout"
)

// config is the demo's settings; the defaults are `make run`'s.
type config struct {
	bin              string // directory of vigil-agent, vigil-collector and vigilctl
	stateDir         string
	certs            string
	node             string
	collectorListen  string
	collectorHTTP    string
	metricsAddr      string
	containerdSocket string // the node's containerd, used when it answers
	privateCtrd      bool   // start a private containerd even if the node has one
	namespace        string // containerd namespace of the demo's container
	pause            bool   // wait for Enter between steps
}

func main() {
	host, _ := os.Hostname()
	cfg := config{}
	flag.StringVar(&cfg.bin, "bin", "bin", "directory holding vigil-agent, vigil-collector and vigilctl")
	flag.StringVar(&cfg.stateDir, "state-dir", "/var/lib/vigil/demo", "the demo's state: agent drafts, collector database, logs (emptied when the previous demo left it)")
	flag.StringVar(&cfg.certs, "certs", defaultCerts(), "test PKI, made when missing (vigilctl finds it here by default)")
	flag.StringVar(&cfg.node, "node", host, "node name (its agent certificate must be in --certs)")
	flag.StringVar(&cfg.collectorListen, "collector-listen", defaultCollector, "collector gRPC address")
	flag.StringVar(&cfg.collectorHTTP, "collector-http-listen", "127.0.0.1:7080", "collector /metrics, /healthz, /readyz address")
	flag.StringVar(&cfg.metricsAddr, "metrics-addr", defaultMetrics, "agent /metrics, /healthz, /readyz address")
	flag.StringVar(&cfg.containerdSocket, "containerd-socket", "/run/containerd/containerd.sock", "the node's containerd, used if it answers")
	flag.BoolVar(&cfg.privateCtrd, "private-containerd", false, "start a private containerd even if the node's answers")
	flag.StringVar(&cfg.namespace, "namespace", "vigil-demo", "containerd namespace of the demo's container")
	flag.BoolVar(&cfg.pause, "pause", cliout.IsTerminal(os.Stdin), "wait for Enter after each step (default: when stdin is a terminal)")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: the agent loads BPF programs and containerd runs containers: run as root (make demo)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, os.Stdout)
	stop()
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "demo: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
