package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/ship"
	"github.com/vigil-dev/vigil/pkg/sink"
)

// outputs are where the agent's alerts go: the log always, a JSON-lines
// file and the collector when configured.
type outputs struct {
	log     *zap.Logger
	file    *sink.JSONLines // nil when off
	shipper *ship.Shipper   // nil when off
	errors  *prometheus.CounterVec
	// mu serialises emit: alerts come from the deduper, the restart gap,
	// enforcement's goroutines and the status report (posture).
	mu sync.Mutex
}

func newOutputs(alertsFile string, shipper *ship.Shipper, log *zap.Logger, reg prometheus.Registerer) (*outputs, error) {
	o := &outputs{log: log, shipper: shipper, errors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_alert_output_errors_total",
		Help: "Alerts an output could not take, by output (file; the collector's are in vigil_ship_dropped_total).",
	}, []string{"output"})}
	if err := reg.Register(o.errors); err != nil {
		return nil, fmt.Errorf("register output metrics: %w", err)
	}
	if alertsFile != "" {
		if err := os.MkdirAll(filepath.Dir(alertsFile), 0o750); err != nil {
			return nil, fmt.Errorf("alerts file directory: %w", err)
		}
		f, err := sink.NewJSONLines(alertsFile)
		if err != nil {
			return nil, err
		}
		o.file = f
	}
	return o, nil
}

func (o *outputs) emit(a *vigilv1.Alert) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.log.Warn(cliflags.AlertLogMessage,
		zap.String("alert_id", a.Id), zap.String("action", a.Action.ShortName()), zap.String("kind", a.Kind.ShortName()),
		zap.String("container", a.Container.GetId()), zap.String("image", a.Container.GetImage()),
		zap.String("pod", a.Container.GetPod()), zap.String("namespace", a.Container.GetNamespace()),
		zap.String("detail", a.Detail), zap.Uint64("count", a.Count))
	if o.file != nil {
		if err := o.file.Write(context.Background(), a); err != nil {
			o.errors.WithLabelValues("file").Inc()
			o.log.Error("write alert to file", zap.String("alert_id", a.Id), zap.Error(err))
		}
	}
	if o.shipper != nil {
		// A full queue is counted by the shipper (vigil_ship_dropped_total).
		_ = o.shipper.Enqueue(a)
	}
}

func (o *outputs) close() {
	if o.file != nil {
		o.file.Close()
	}
}
