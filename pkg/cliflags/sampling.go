package cliflags

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
)

// AlertLogMessage is the message of the log line each alert is written as.
// Those lines are never sampled: an alert must not be lost to the log.
const AlertLogMessage = "violation"

// JSON logs are sampled as zap's production configuration does: of the
// lines with one message and level, the first 100 of each second are
// written, then one in 100.
const (
	sampleTick       = time.Second
	sampleFirst      = 100
	sampleThereafter = 100
)

// NewSampledCounter is vigil_log_lines_sampled_total{level}: the log lines
// sampling dropped.
func NewSampledCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_log_lines_sampled_total",
		Help: "Log lines dropped by sampling, by level: past 100 a second of one message and level, one in 100 is written. Alert lines are never sampled.",
	}, []string{"level"})
}

// sampleExceptAlerts samples core's lines, counting each one dropped in
// sampled, except alert lines, which always go through.
func sampleExceptAlerts(core zapcore.Core, sampled *prometheus.CounterVec) zapcore.Core {
	hook := zapcore.SamplerHook(func(e zapcore.Entry, d zapcore.SamplingDecision) {
		if d&zapcore.LogDropped != 0 {
			sampled.WithLabelValues(e.Level.String()).Inc()
		}
	})
	return unsampledAlerts{Core: zapcore.NewSamplerWithOptions(core, sampleTick, sampleFirst, sampleThereafter, hook), raw: core}
}

// unsampledAlerts is a sampled core (embedded) that lets alert lines
// through its unsampled core.
type unsampledAlerts struct {
	zapcore.Core
	raw zapcore.Core
}

func (c unsampledAlerts) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == AlertLogMessage {
		return c.raw.Check(e, ce)
	}
	return c.Core.Check(e, ce)
}

func (c unsampledAlerts) With(fields []zapcore.Field) zapcore.Core {
	return unsampledAlerts{Core: c.Core.With(fields), raw: c.raw.With(fields)}
}
