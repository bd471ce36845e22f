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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

func newStatusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's enforcement tier per hook, its events and losses",
		Long: `status reads the running agent's metrics (--metrics-addr of vigil-agent run)
and prints the tier enforcing each hook, the events handled and every loss. With
no agent running it probes this node by loading an LSM program, and says so.
--metrics-addr comes from the same places as vigil-agent run's: the flag,
VIGIL_AGENT_METRICS_ADDR, the --config file.`,
		Args: cobra.NoArgs,
	}
	settings := newAgentSettings(cmd, "metrics-addr")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := settings.resolve(cmd); err != nil {
			return err
		}
		addr := settings.run.MetricsAddr
		out := cmd.OutOrStdout()
		if addr == "" {
			return errors.New(`--metrics-addr is "": the agent serves no metrics to read its status from`)
		}
		metrics, err := fetch("http://" + reachable(addr) + "/metrics")
		if err != nil {
			fmt.Fprintf(out, "no agent answers at %s (%v); probing this node instead:\n\n", addr, err)
			return printTiers(out, enforce.Tiers(enforce.Probes{LSM: sensor.ProbeLSM()}))
		}
		return printStatus(out, metrics)
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

var (
	tierLine    = regexp.MustCompile(`^vigil_enforcement_tier\{hook="([^"]+)",reason="((?:[^"\\]|\\.)*)",tier="([^"]+)"\} 1$`)
	counterLine = regexp.MustCompile(`^(vigil_(?:sensor_events_delivered|sensor_events_lost|enforcement_actions|alerts)_total)\{([^}]*)\} ([0-9.e+]+)$`)
)

// printStatus prints the tiers and the counters the agent exports.
func printStatus(w io.Writer, metrics string) error {
	var tiers []enforce.HookTier
	var counters []string
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		line := sc.Text()
		if m := tierLine.FindStringSubmatch(line); m != nil {
			tiers = append(tiers, enforce.HookTier{Hook: m[1], Tier: enforce.Tier(m[3]), Reason: strings.ReplaceAll(m[2], `\"`, `"`)})
		} else if m := counterLine.FindStringSubmatch(line); m != nil && m[3] != "0" {
			counters = append(counters, fmt.Sprintf("%s{%s} %s", strings.TrimPrefix(m[1], "vigil_"), m[2], m[3]))
		}
	}
	if len(tiers) == 0 {
		return fmt.Errorf("the agent exports no enforcement tiers (vigil_enforcement_tier): is it vigil-agent run?")
	}
	if err := printTiers(w, tiers); err != nil {
		return err
	}
	sort.Strings(counters)
	fmt.Fprintln(w, "\ncounters (non-zero):")
	for _, c := range counters {
		fmt.Fprintln(w, "  "+c)
	}
	return nil
}

func printTiers(w io.Writer, tiers []enforce.HookTier) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOOK\tTIER\tWHY")
	for _, t := range tiers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Hook, t.Tier, t.Reason)
	}
	return tw.Flush()
}
