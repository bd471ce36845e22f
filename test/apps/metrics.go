package apps

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// counters sums the agent's counters named in names, by their labels'
// values ("decision=timeout"), so that a phase can say what the agent did
// and lost while it ran.
func counters(g prometheus.Gatherer, names ...string) (map[string]float64, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather the agent's metrics: %w", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !slices.Contains(names, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// delta is after less before, without the counters that did not move.
func delta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// formatCounters lists counters in name order.
func formatCounters(c map[string]float64) string {
	parts := make([]string, 0, len(c))
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %g", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

// hasPrefix reports whether a counter of c is named name.
func hasPrefix(c map[string]float64, name string) bool {
	for k := range c {
		if strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}
