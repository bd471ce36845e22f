package alert

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	alerts    *prometheus.CounterVec
	repeats   prometheus.Counter
	ungrouped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_total",
			Help: "Alerts sent, by kind, action and the namespace of the pod they concern (empty when no pod is concerned; first occurrences and window summaries).",
		}, []string{"kind", "action", "pod_namespace"}),
		repeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerts_repeats_total",
			Help: "Repeats of a behaviour folded into its window's summary alert.",
		}),
		ungrouped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerts_undeduplicated_total",
			Help: "Alerts sent without deduplication because too many windows were open.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.alerts, m.repeats, m.ungrouped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register alert metrics: %w", err)
		}
	}
	return m, nil
}
