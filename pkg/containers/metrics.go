package containers

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons an event is unattributed (label of vigil_containers_unattributed_total).
const (
	reasonUnresolved  = "unresolved"             // container-like cgroup, no such container in containerd
	reasonCgroupGone  = "cgroup_gone"            // the cgroup was removed before it could be resolved
	reasonUnavailable = "containerd_unavailable" // not connected to containerd
	reasonLookupError = "lookup_error"           // containerd or cgroupfs answered with an error
)

// Reasons a connection to containerd fails (label of
// vigil_containers_connection_errors_total).
const (
	connNoSocket      = "no_socket"      // the socket path does not exist
	connNotContainerd = "not_containerd" // something answers there, but not containerd
	connUnreachable   = "unreachable"    // nobody accepts connections on the socket
	connLost          = "lost"           // the event stream broke (containerd stopped)
	connInventory     = "inventory"      // listing containers failed
)

type metrics struct {
	connected        prometheus.Gauge
	connectionErrors *prometheus.CounterVec
	events           *prometheus.CounterVec
	tracked          prometheus.Gauge
	unattributed     *prometheus.CounterVec
	resolveErrors    *prometheus.CounterVec
	unknownDigests   prometheus.Counter
	scopeErrors      *prometheus.CounterVec
	onDemand         *prometheus.CounterVec
	knownDelay       prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "connected",
			Help: "1 while connected to containerd and following its events; 0 means host-only attribution.",
		}),
		connectionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "connection_errors_total",
			Help: "Failed or lost connections to containerd, by reason.",
		}, []string{"reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "events_total",
			Help: "containerd events handled, by topic.",
		}, []string{"topic"}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "tracked",
			Help: "Containers with a live task the resolver knows.",
		}),
		unattributed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "unattributed_total",
			Help: "Lookups of a container-like cgroup that could not be attributed to a container, by reason.",
		}, []string{"reason"}),
		resolveErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "resolve_errors_total",
			Help: "Containers that could not be resolved from containerd, by where it was tried.",
		}, []string{"source"}),
		unknownDigests: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "image_digest_unknown_total",
			Help: "Containers resolved without an image digest (image deleted or renamed).",
		}),
		scopeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "scope_table_errors_total",
			Help: "Failed updates of the kernel's cgroup tables, by operation: set and delete (cgroup-to-scope table), mark_host and clear_host (host cgroups).",
		}, []string{"op"}),
		onDemand: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "on_demand_total",
			Help: "Lookups that had to resolve a cgroup on demand, by kind found.",
		}, []string{"kind"}),
		knownDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "vigil", Subsystem: "containers", Name: "known_delay_seconds",
			Help:    "Time from containerd's /tasks/create event to the resolver knowing the container.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{
		m.connected, m.connectionErrors, m.events, m.tracked, m.unattributed,
		m.resolveErrors, m.unknownDigests, m.scopeErrors, m.onDemand, m.knownDelay,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metric: %w", err)
		}
	}
	return m, nil
}
