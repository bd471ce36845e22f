package ship

import "github.com/prometheus/client_golang/prometheus"

// Reasons an alert is dropped, the reason label of vigil_ship_dropped_total.
const (
	dropQueueFull  = "queue_full"  // the memory queue was full
	dropSpoolFull  = "spool_full"  // the spool reached MaxBytes
	dropDiskFull   = "disk_full"   // the spool's file system is full (ENOSPC, EDQUOT)
	dropSpoolError = "spool_error" // writing the spool failed otherwise (I/O error)
	dropInvalid    = "invalid"     // no id, or too large to ever be accepted
	dropRejected   = "rejected"    // the collector refused it as malformed
	dropShutdown   = "shutdown"    // still in the memory queue when Close gave up
)

var dropReasons = []string{dropQueueFull, dropSpoolFull, dropDiskFull, dropSpoolError, dropInvalid, dropRejected, dropShutdown}

type shipMetrics struct {
	dropped      *prometheus.CounterVec
	corrupt      prometheus.Counter
	corruptBytes prometheus.Counter
	cursorErrors prometheus.Counter
	delivered    prometheus.Counter
	sent         prometheus.Counter
	reconnects   prometheus.Counter
	spoolBytes   prometheus.Gauge
	connected    prometheus.Gauge
}

func newShipMetrics(reg prometheus.Registerer) (*shipMetrics, error) {
	m := &shipMetrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ship_dropped_total", Help: "Alerts the shipper dropped, by reason.",
		}, []string{"reason"}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ship_spool_corrupt_total", Help: "Torn or corrupt spool tails cut off at start (each lost one or more alerts).",
		}),
		corruptBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ship_spool_corrupt_bytes_total", Help: "Bytes of torn or corrupt spool tails cut off at start.",
		}),
		cursorErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ship_spool_cursor_errors_total", Help: "Failed writes of the spool's delivered cursor (delivery goes on; a restart may redeliver).",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ship_delivered_total", Help: "Alerts acknowledged by the collector.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ship_sent_total", Help: "Alerts sent to the collector, resends included.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ship_stream_errors_total", Help: "Alert streams that ended in an error and were reopened.",
		}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_ship_spool_bytes", Help: "Bytes in the spool on disk.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_ship_connected", Help: "1 while an alert stream to the collector is open.",
		}),
	}
	for _, reason := range dropReasons {
		m.dropped.WithLabelValues(reason) // export zeros, so a dashboard sees every reason
	}
	for _, c := range []prometheus.Collector{m.dropped, m.corrupt, m.corruptBytes, m.cursorErrors, m.delivered, m.sent, m.reconnects, m.spoolBytes, m.connected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
