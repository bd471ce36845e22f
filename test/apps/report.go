package apps

import (
	"fmt"
	"slices"
	"strings"
)

// maxListed bounds the failures a report lists one by one.
const maxListed = 12

// Report is the measurement of r for a reader: entries learned, each
// phase's requests, failures and findings grouped by cause.
func (r Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %d entries learned, %d of them before the restart\n", r.App, r.Digest, r.Learned, r.LearnedAtRestart)
	if r.Unjudged > 0 {
		fmt.Fprintf(&b, "%d container(s) started under enforce before the one below had their opens unjudged\n", r.Unjudged)
	}
	if r.Incomplete != "" {
		fmt.Fprintf(&b, "the learned profile says it may be incomplete: %s\n", r.Incomplete)
	}
	for _, p := range []Phase{r.Monitor, r.Enforce} {
		p.report(&b)
	}
	return b.String()
}

func (p Phase) report(b *strings.Builder) {
	fmt.Fprintf(b, "%s: started %v; %d of %d requests failed", p.Mode, p.Started, p.Failed(), p.Of())
	if p.Unsent > 0 {
		fmt.Fprintf(b, " (%d of them never sent: an earlier request of their round failed)", p.Unsent)
	}
	if p.Exit != "" {
		fmt.Fprintf(b, "; the container %s", p.Exit)
	}
	fmt.Fprintf(b, "; %d distinct objects alerted\n", len(p.Findings))
	if p.Unjudged != "" {
		fmt.Fprintf(b, "  NOT ENFORCED: %s\n", p.Unjudged)
	}
	if len(p.Counters) > 0 {
		fmt.Fprintf(b, "  agent: %s\n", formatCounters(p.Counters))
	}
	for _, c := range causeOrder {
		var of []Finding
		for _, f := range p.Findings {
			if f.Cause == c {
				of = append(of, f)
			}
		}
		if len(of) == 0 {
			continue
		}
		fmt.Fprintf(b, "  %s (%d):\n", c, len(of))
		for _, f := range of {
			fmt.Fprintf(b, "    %s\n", f)
		}
	}
	failures := map[string]int{}
	var order []string
	for _, f := range p.Failures {
		k := f.Request + ": " + f.Err.Error()
		if failures[k] == 0 {
			order = append(order, k)
		}
		failures[k]++
	}
	for i, k := range order {
		if i == maxListed {
			fmt.Fprintf(b, "  … and %d other failures\n", len(order)-maxListed)
			break
		}
		fmt.Fprintf(b, "  failed ×%d: %s\n", failures[k], k)
	}
}

// Table is the results side by side, as issue 13 tabulates them.
func Table(results []Result) string {
	rows := [][]string{{""}, {"learned entries (before the restart)"}, {"monitor false positives (distinct objects)"},
		{"  of which image / volatile / chosen name / capability / other"}, {"enforce: failed requests"},
		{"enforce: containers started whose opens went unjudged"}}
	for _, r := range results {
		counts := make([]string, len(causeOrder))
		for i, c := range causeOrder {
			counts[i] = fmt.Sprint(countCause(r.Monitor.Findings, c))
		}
		enforce := fmt.Sprintf("%d of %d", r.Enforce.Failed(), r.Enforce.Of())
		if !r.Enforce.Started {
			enforce += ", never served"
		}
		if r.Enforce.Exit != "" {
			enforce += ", " + r.Enforce.Exit
		}
		if r.Enforce.Unjudged != "" {
			enforce += ", opens NOT judged"
		}
		rows[0] = append(rows[0], r.App)
		rows[1] = append(rows[1], fmt.Sprintf("%d (%d)", r.Learned, r.LearnedAtRestart))
		rows[2] = append(rows[2], fmt.Sprint(len(r.Monitor.Findings)))
		rows[3] = append(rows[3], strings.Join(counts, " / "))
		rows[4] = append(rows[4], enforce)
		rows[5] = append(rows[5], fmt.Sprint(r.Unjudged))
	}
	var b strings.Builder
	for i, row := range rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		if i == 0 {
			fmt.Fprintf(&b, "|%s\n", strings.Repeat("---|", len(row)))
		}
	}
	return b.String()
}

func countCause(fs []Finding, c Cause) int {
	return len(slices.DeleteFunc(slices.Clone(fs), func(f Finding) bool { return f.Cause != c }))
}
