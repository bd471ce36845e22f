package agent

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/process"
)

// processesFile, in the state directory, is the process table a stopping
// agent hands over to the next (process.Table.Save).
const processesFile = "processes.json"

// processHandover hands the process table from a stopping agent to the
// next: what the pinned programs report while no agent reads is read by
// the next agent, whose table would not know a process that ended
// meanwhile, and its alert would name no process (argv, executable).
type processHandover struct {
	file     string
	procRoot string
	table    *process.Table
	log      *zap.Logger
	restored *prometheus.CounterVec
	rejected prometheus.Counter
}

func newProcessHandover(stateDir, procRoot string, table *process.Table, log *zap.Logger, reg prometheus.Registerer) (*processHandover, error) {
	h := &processHandover{file: filepath.Join(stateDir, processesFile), procRoot: procRoot, table: table, log: log,
		restored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_agent_process_handover_total",
			Help: "Processes the previous agent handed over at its stop, by what this agent did with each: live (running still, named as it saw them), exited (ended since, kept as exited for a few seconds), reused (its pid is another process's now: left alone), dropped (the process table was full).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_agent_process_handover_rejected_total",
			Help: "Process hand-over files this agent could not use (unreadable or malformed): the processes in them were dropped. A file from before the last boot is not counted: its processes are gone.",
		})}
	for _, c := range []prometheus.Collector{h.restored, h.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register process hand-over metrics: %w", err)
		}
	}
	return h, nil
}

// restore takes over the previous agent's processes. Called before any
// record is read: the first ones may be about processes only it knew.
func (h *processHandover) restore(now time.Time) {
	r, ok, err := h.table.Restore(h.file, h.procRoot, now)
	if errors.Is(err, process.ErrHandoverFromAnotherBoot) {
		h.log.Info("process hand-over left before a reboot: its processes are gone", zap.String("file", h.file), zap.Error(err))
		return
	}
	if err != nil {
		h.rejected.Inc()
		msg := "previous agent's process hand-over unreadable: what its processes did while no agent ran may be alerted without them"
		if errors.Is(err, process.ErrHandoverRejected) {
			msg = "previous agent's process hand-over rejected: what its processes did while no agent ran may be alerted without them"
		}
		h.log.Warn(msg, zap.String("file", h.file), zap.Error(err))
		return
	}
	if !ok {
		h.log.Info("no process hand-over: a first start, or the previous agent did not stop cleanly", zap.String("file", h.file))
		return
	}
	for outcome, n := range map[string]int{"live": r.Live, "exited": r.Exited, "reused": r.Reused, "dropped": r.Full} {
		h.restored.WithLabelValues(outcome).Add(float64(n))
	}
	if r.Full > 0 {
		h.log.Warn("process table full: processes of the previous agent's hand-over dropped", zap.Int("dropped", r.Full))
	}
	h.log.Info("processes taken over from the previous agent", zap.Int("live", r.Live), zap.Int("exited", r.Exited),
		zap.Int("pid_reused", r.Reused))
}

// save hands the table's contained processes over to the next agent;
// called once no more records are read.
func (h *processHandover) save() {
	n, err := h.table.Save(h.file, h.procRoot)
	if err != nil {
		h.log.Error("hand the process table over to the next agent", zap.Error(err))
		return
	}
	h.log.Info("process table handed over to the next agent", zap.Int("processes", n), zap.String("file", h.file))
}
