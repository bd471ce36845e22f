package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

func newStatusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's enforcement tier per hook, where it sees opens and connects, its events and losses",
		Long: `status reads the running agent's metrics (--metrics-addr of vigil-agent run)
and prints the tier enforcing each hook, the hook its sensor sees opens and
connects at (fexit where the kernel runs BPF trampolines, else sys_exit, and
why), the events handled and every loss. With no agent running it probes this
node by loading an LSM program and the fexit programs, and says so.
--metrics-addr comes from the same places as vigil-agent run's: the flag,
VIGIL_AGENT_METRICS_ADDR, the --config file.`,
		Example: `  vigil-agent status
  # An agent serving its metrics elsewhere, as YAML
  vigil-agent status --metrics-addr 127.0.0.1:9800 -o yaml`,
		Args: cobra.NoArgs,
	}
	settings := newAgentSettings(cmd, "metrics-addr")
	output := newOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		format, err := output.format()
		if err != nil {
			return err
		}
		if err := settings.resolve(cmd); err != nil {
			return err
		}
		addr := settings.run.MetricsAddr
		if addr == "" {
			return errors.New(`--metrics-addr is "": the agent serves no metrics to read its status from`)
		}
		var report statusReport
		metrics, err := fetch("http://" + reachable(addr) + "/metrics")
		if err != nil {
			note := cmd.OutOrStdout()
			if format != "" {
				note = cmd.ErrOrStderr()
			}
			fmt.Fprintf(note, "no agent answers at %s (%s); probing this node instead:\n\n", cliout.Escape(addr), cliout.Escape(err.Error()))
			_, probes := enforce.KernelConfig{}.ForThisNode()
			probes.UnixGuard, probes.UnixSignal = enforce.ProbeUnixConnect(), true
			report = statusReport{Probed: true, Tiers: tierReports(enforce.Tiers(probes)), Sensor: sensorReports(sensor.ProbeHooks())}
		} else if report, err = parseStatus(metrics); err != nil {
			return err
		} else {
			report.Agent = addr
		}
		if format != "" {
			return cliout.NewPrinter(cmd.OutOrStdout(), format).Print(report)
		}
		return report.printTable(cmd.OutOrStdout())
	}
	return cmd
}

// reachable turns a listen address into one to connect to: an agent
// listening on every address (":9700", as in the DaemonSet) answers on
// loopback.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func fetch(url string) (string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// statusReport is what status prints; its JSON and YAML forms are stable.
type statusReport struct {
	// Agent is the metrics address of the agent that answered.
	Agent string `json:"agent,omitempty"`
	// Probed: no agent answered, the tiers are what this node could run.
	Probed bool         `json:"probed,omitempty"`
	Tiers  []tierReport `json:"tiers"`
	// Sensor says where opens and connects are seen.
	Sensor   []sensorReport `json:"sensor,omitempty"`
	Counters []counter      `json:"counters,omitempty"`
}

type sensorReport struct {
	Hook   string `json:"hook"`
	Attach string `json:"attach"`
	Reason string `json:"reason,omitempty"`
}

type tierReport struct {
	Hook   string `json:"hook"`
	Tier   string `json:"tier"`
	Reason string `json:"reason"`
}

// counter is one non-zero event, loss, action or alert counter.
type counter struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

var (
	sensorLine  = regexp.MustCompile(`^vigil_sensor_hook_info\{attach="([^"]+)",hook="([^"]+)",reason="((?:[^"\\]|\\.)*)"\} 1$`)
	tierLine    = regexp.MustCompile(`^vigil_enforcement_tier\{hook="([^"]+)",reason="((?:[^"\\]|\\.)*)",tier="([^"]+)"\} 1$`)
	counterLine = regexp.MustCompile(`^vigil_((?:sensor_events_delivered|sensor_events_lost|enforcement_actions|alerts)_total)\{([^}]*)\} (\S+)$`)
	labelPair   = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// parseStatus reads the tiers and the non-zero counters the agent exports.
func parseStatus(metrics string) (statusReport, error) {
	var r statusReport
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		line := sc.Text()
		if m := tierLine.FindStringSubmatch(line); m != nil {
			r.Tiers = append(r.Tiers, tierReport{Hook: m[1], Tier: m[3], Reason: strings.ReplaceAll(m[2], `\"`, `"`)})
		} else if m := sensorLine.FindStringSubmatch(line); m != nil {
			r.Sensor = append(r.Sensor, sensorReport{Hook: m[2], Attach: m[1], Reason: strings.ReplaceAll(m[3], `\"`, `"`)})
		} else if m := counterLine.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil || v == 0 {
				continue
			}
			c := counter{Name: m[1], Value: v, Labels: map[string]string{}}
			for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
				c.Labels[l[1]] = strings.ReplaceAll(l[2], `\"`, `"`)
			}
			r.Counters = append(r.Counters, c)
		}
	}
	if len(r.Tiers) == 0 {
		return r, errors.New("the agent exports no enforcement tiers (vigil_enforcement_tier): is it vigil-agent run?")
	}
	sort.Slice(r.Counters, func(i, j int) bool { return r.Counters[i].String() < r.Counters[j].String() })
	return r, nil
}

func tierReports(tiers []enforce.HookTier) []tierReport {
	out := make([]tierReport, len(tiers))
	for i, t := range tiers {
		out[i] = tierReport{Hook: t.Hook, Tier: string(t.Tier), Reason: t.Reason}
	}
	return out
}

func sensorReports(hooks []sensor.Hook) []sensorReport {
	out := make([]sensorReport, len(hooks))
	for i, h := range hooks {
		out[i] = sensorReport{Hook: h.Type.String(), Attach: h.Attach, Reason: h.Reason}
	}
	return out
}

// String is the counter as Prometheus names it, its value an integer
// (1515656, not the exposition format's 1.515656e+06).
func (c counter) String() string {
	var labels []string
	for k, v := range c.Labels {
		labels = append(labels, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(labels)
	return fmt.Sprintf("%s{%s} %s", c.Name, strings.Join(labels, ","), strconv.FormatFloat(c.Value, 'f', -1, 64))
}

func (r statusReport) printTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOOK\tTIER\tWHY")
	for _, t := range r.Tiers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cliout.Escape(t.Hook), cliout.Escape(t.Tier), cliout.Escape(t.Reason))
	}
	if len(r.Sensor) > 0 {
		fmt.Fprintln(tw, "\nEVENTS\tSEEN AT\tWHY")
		for _, h := range r.Sensor {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cliout.Escape(h.Hook), cliout.Escape(h.Attach), cliout.Escape(h.Reason))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Probed {
		return nil
	}
	fmt.Fprintln(w, "\ncounters (non-zero):")
	for _, c := range r.Counters {
		fmt.Fprintln(w, "  "+cliout.Escape(c.String()))
	}
	return nil
}
