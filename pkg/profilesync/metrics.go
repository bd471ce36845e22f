package profilesync

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	leader        prometheus.Gauge
	applied       *prometheus.CounterVec
	created       prometheus.Counter
	statusUpdates prometheus.Counter
	skipped       prometheus.Counter
	errors        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_collector_profile_crd_leader",
			Help: "1 while this collector holds the Lease and keeps ImageProfiles in step"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_collector_profile_crd_specs_total",
			Help: "ImageProfile specs applied to the store, by result: applied, unchanged, refused, needs_promote (a learn-mode spec over a profile in monitor or enforce mode its status did not show)"}, []string{"result"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_collector_profile_crd_created_total",
			Help: "ImageProfiles created for profiles that had none"}),
		statusUpdates: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_collector_profile_crd_status_updates_total",
			Help: "ImageProfile statuses written"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_collector_profile_crd_skipped_total",
			Help: "profiles whose digest cannot name an ImageProfile (not sha256/384/512 hex), so not kept as one"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_collector_profile_crd_errors_total",
			Help: "syncs that failed and were retried (store or API server unreachable, conflicts)"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.leader, m.applied, m.created, m.statusUpdates, m.skipped, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("register profile sync metrics"), err)
		}
	}
	return m, nil
}
