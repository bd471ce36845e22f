package agent

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/alert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/lastseen"
)

// restartGap makes the time no agent watched the node visible: each run
// marks in the state directory until when it saw events (every second, and
// when it stops reading them), and the next run reports the time from that
// mark to its own start as one alert. After a crash the mark is up to a
// second old, so the gap reported is then up to a second too long, never
// too short.
type restartGap struct {
	mark     *lastseen.Mark
	log      *zap.Logger
	from     time.Time // the previous run's mark; zero on a first start
	attached time.Time // this run's programs were attached by then
	seconds  prometheus.Gauge
}

// newRestartGap reads the previous run's mark; attached is when this run's
// programs started seeing events.
func newRestartGap(stateDir string, attached time.Time, log *zap.Logger, reg prometheus.Registerer) (*restartGap, error) {
	g := &restartGap{mark: lastseen.New(stateDir), log: log, attached: attached,
		seconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_agent_restart_gap_seconds",
			Help: "How long before this run no agent saw the node's events (from the previous run's last mark to this run's start); 0 on a first start.",
		})}
	if err := reg.Register(g.seconds); err != nil {
		return nil, fmt.Errorf("register restart gap metric: %w", err)
	}
	from, ok, err := g.mark.Read()
	switch {
	case err != nil:
		log.Warn("previous run's last-seen mark unreadable; a gap before this run is not reported", zap.Error(err))
	case ok:
		g.from = from
	}
	return g, nil
}

// report emits the gap alert, if a previous run left a mark, and marks
// this run's start.
func (g *restartGap) report(node string, emit func(*vigilv1.Alert)) {
	if !g.from.IsZero() {
		to := g.attached
		if to.Before(g.from) { // the clock went back: report an empty gap rather than a negative one
			to = g.from
		}
		g.seconds.Set(to.Sub(g.from).Seconds())
		g.log.Warn("agent restart: events were not seen", zap.Time("from", g.from), zap.Time("to", to),
			zap.Duration("gap", to.Sub(g.from)))
		emit(alert.Gap(node, g.from, to))
	}
	g.record(g.attached)
}

// record marks that events were seen until t.
func (g *restartGap) record(t time.Time) {
	if err := g.mark.Record(t); err != nil {
		g.log.Error("mark until when events were seen", zap.Error(err))
	}
}
