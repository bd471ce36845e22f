package policy

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	skipped  *prometheus.CounterVec
	learned  *prometheus.CounterVec
	verdicts *prometheus.CounterVec
	// inherited counts profiles a digest inherited (again when its parent
	// changes).
	inherited prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_policy_events_skipped_total",
			Help: "Container events not matched against a profile, by reason (unattributed, unknown_digest, path_truncated, failed_lookup, …).",
		}, []string{"reason"}),
		learned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_policy_learned_total",
			Help: "Observations folded into drafts; new=true when the draft grew.",
		}, []string{"new"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_policy_verdicts_total",
			Help: "Events checked against a profile, by mode and verdict.",
		}, []string{"mode", "verdict"}),
		inherited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_policy_profiles_inherited_total",
			Help: "Profiles an image digest without one inherited from the newest promoted profile of its repository.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.skipped, m.learned, m.verdicts, m.inherited} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register policy metrics: %w", err)
		}
	}
	return m, nil
}
