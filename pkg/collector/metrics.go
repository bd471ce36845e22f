package collector

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	received, stored, duplicates prometheus.Counter
	rejected                     *prometheus.CounterVec
	timesReplaced                *prometheus.CounterVec
	timesDropped                 prometheus.Counter
	storeErrors                  prometheus.Counter
	subscriberDropped            prometheus.Counter
	denied                       *prometheus.CounterVec
	refused                      *prometheus.CounterVec
	throttled                    prometheus.Counter
	streams                      prometheus.Gauge
	agentStreams, subscribers    prometheus.Gauge
	writeBatch                   prometheus.Histogram
	statusReports                prometheus.Counter
	pruned, pruneRuns            prometheus.Counter
	leader                       prometheus.Gauge
	syncErrors                   prometheus.Counter
	drafts, profileVersions      prometheus.Counter
	draftsRefused                prometheus.Counter
	profileResyncs               prometheus.Counter
	profileWatches               prometheus.Gauge
	auditRecords                 *prometheus.CounterVec
	auditErrors                  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_collector_" + name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_collector_" + name, Help: help})
	}
	m := &metrics{
		received:   counter("alerts_received_total", "Alerts received from agents, valid or not."),
		stored:     counter("alerts_stored_total", "Alerts stored for the first time."),
		duplicates: counter("alerts_duplicate_total", "Alerts received again after being stored (redelivery); acknowledged, not stored twice."),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_collector_alerts_rejected_total", Help: "Alerts refused as malformed; the agent is told and does not resend them.",
		}, []string{"reason"}),
		timesReplaced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_collector_alert_times_replaced_total",
			Help: "Alert times replaced by the receive time (the agent's kept in the agent_time label), by reason: unrepresentable, clock_skew.",
		}, []string{"reason"}),
		timesDropped:      counter("alert_times_dropped_total", "Unrepresentable first_seen, last_seen or start_time fields dropped from alerts (named in the invalid_times label)."),
		storeErrors:       counter("store_errors_total", "Store writes that failed; the agents resend the alerts."),
		subscriberDropped: counter("subscriber_dropped_total", "Alerts not delivered to a live subscriber whose queue was full."),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_collector_calls_denied_total", Help: "Calls refused by authentication or authorisation.",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_collector_calls_refused_total",
			Help: "Calls and connections refused by the limits: capacity (all streams), streams, connections or rate (one identity's), anonymous_connections (without a certificate, all together).",
		}, []string{"reason"}),
		throttled:     counter("alerts_throttled_total", "Alerts taken late because their identity was past its alert rate (the agent's spool held them)."),
		streams:       gauge("streams", "Open streams, every identity together (see --max-streams)."),
		agentStreams:  gauge("agent_streams", "Open alert streams from agents."),
		subscribers:   gauge("subscribers", "Live alert subscribers."),
		statusReports: counter("status_reports_total", "Node status reports stored."),
		pruned:        counter("alerts_pruned_total", "Alerts deleted by retention."),
		pruneRuns:     counter("retention_runs_total", "Times this collector applied retention (only the leader does)."),
		leader:        gauge("leader", "1 while this collector leads the replicas sharing its store: it applies retention and runs the sinks that deliver from the store (webhook, audit export)."),
		syncErrors: counter("replica_sync_errors_total",
			"Failures reading what other replicas stored (alerts for the live tail, profile versions for the agents) or listening for it; retried, and caught up from the store."),
		drafts:          counter("drafts_received_total", "Draft profiles received from agents."),
		draftsRefused:   counter("drafts_refused_total", "Drafts refused because the node had not reported running their image."),
		profileVersions: counter("profile_versions_total", "Profile versions made (merged drafts, mode changes, imports)."),
		profileResyncs: counter("profile_watch_kicked_total",
			"Profile watches ended because the agent fell behind; it reconnects for a snapshot, nothing is lost."),
		profileWatches: gauge("profile_watches", "Agents watching profile changes."),
		auditRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_collector_audit_records_total", Help: "Audit records appended, by action.",
		}, []string{"action"}),
		auditErrors: counter("audit_errors_total", "Audit records that could not be stored (the action they record was done): each is logged."),
		writeBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_collector_write_batch_alerts", Help: "Alerts per store transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
	}
	for _, c := range []prometheus.Collector{
		m.received, m.stored, m.duplicates, m.rejected, m.timesReplaced, m.timesDropped, m.storeErrors, m.subscriberDropped, m.denied, m.refused, m.throttled, m.streams,
		m.agentStreams, m.subscribers, m.writeBatch, m.statusReports, m.pruned, m.pruneRuns, m.leader, m.syncErrors,
		m.drafts, m.draftsRefused, m.profileVersions, m.profileResyncs, m.profileWatches,
		m.auditRecords, m.auditErrors,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
