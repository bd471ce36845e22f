package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/agentcert"
	"github.com/vigil-dev/vigil/pkg/alert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/pipeline"
	"github.com/vigil-dev/vigil/pkg/policy"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profiledir"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/pkg/ship"
)

// Agent is the node agent: built by New (programs loaded and attached, all
// outputs open), run by Run, which releases everything when it returns.
// It wires the stages; each does its own work.
type Agent struct {
	cfg Config
	log *zap.Logger

	pipeline    *pipeline.Pipeline
	enforcement *enforce.Controller
	loader      *profiledir.Loader // nil without a profiles directory
	remote      *remoteProfiles    // nil without a collector
	shipper     *ship.Shipper      // nil without a collector
	joiner      *agentcert.Joiner  // nil unless the agent joins with a token
	engine      *policy.Engine
	deduper     *alert.Deduper
	out         *outputs
	gap         *restartGap
	processes   *processHandover
	postures    *postures
	admission   *admission

	closeOnce sync.Once
}

// New builds the agent. On error nothing stays loaded or open.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (_ *Agent, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	a := &Agent{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.release()
		}
	}()

	sc := cfg.Sensor
	sc.Types = sensor.NewTypeSet(sensor.BehaviourTypes...)
	// The engine judges only containers' workloads: the rest of the node's
	// behaviour ends in the kernel (host events are no draft's).
	sc.ContainedOnly = true
	a.pipeline, err = pipeline.New(pipeline.Config{ProcRoot: cfg.ProcRoot, Sensor: sc, ContainerdSocket: cfg.ContainerdSocket,
		Enforce: &enforce.KernelConfig{LearnWindow: cfg.LearnWindow, PinDir: cfg.PinDir}, Processes: 1 << 16}, log, reg)
	if err != nil {
		return nil, err
	}
	if a.processes, err = newProcessHandover(cfg.StateDir, cfg.ProcRoot, a.pipeline.Processes(), log, reg); err != nil {
		return nil, err
	}
	a.processes.restore(time.Now())
	if a.postures, err = newPostures(reg); err != nil {
		return nil, err
	}
	if a.gap, err = newRestartGap(cfg.StateDir, time.Now(), log, reg); err != nil {
		return nil, err
	}
	a.enforcement = a.pipeline.Enforcement()
	if a.pipeline.Resolver() == nil {
		log.Warn("no containerd socket: no profile applies")
	}

	sources := profileSources{}
	if cfg.ProfilesDir != "" {
		opts := []profiledir.Option{profiledir.WithMaxFileBytes(cfg.ProfileMaxBytes)}
		if cfg.Limits.MaxEntries > 0 {
			opts = append(opts, profiledir.WithMaxEntries(cfg.Limits.MaxEntries))
		}
		if a.loader, err = profiledir.New(cfg.ProfilesDir, log, reg, opts...); err != nil {
			return nil, fmt.Errorf("profiles directory: %w", err)
		}
		if err := a.loader.Reload(); err != nil {
			log.Warn("some profiles were rejected; the others are in force", zap.Error(err))
		}
		sources = append(sources, loaderSource{a.loader})
	}
	if cfg.Collector.Address != "" {
		if a.shipper, a.joiner, err = newShipper(cfg, log, reg); err != nil {
			return nil, err
		}
		a.remote = newRemoteProfiles(log)
		sources = append(sources, a.remote)
	}

	drafts, err := draftstore.Open(filepath.Join(cfg.StateDir, "drafts"), cfg.Limits, reg)
	if err != nil {
		return nil, fmt.Errorf("draft store: %w", err)
	}
	a.engine, err = policy.New(policy.Config{Node: cfg.Node, Modes: cfg.Modes, Inherit: cfg.Inherit, Profiles: sources, Drafts: drafts,
		Limits: cfg.Limits, Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	if a.out, err = newOutputs(cfg.AlertsFile, a.shipper, log, reg); err != nil {
		return nil, err
	}
	if a.deduper, err = alert.NewDeduper(cfg.Node, cfg.DedupWindow, a.out.emit, reg); err != nil {
		return nil, err
	}
	known := func(digest string) bool { _, ok := a.engine.Profile(digest); return ok }
	if a.admission, err = newAdmission(cfg, known, a.out.emit, log, reg); err != nil {
		return nil, err
	}
	return a, nil
}

// Run processes events until ctx ends, then flushes alerts and drafts and
// releases everything.
func (a *Agent) Run(ctx context.Context) error {
	defer a.release()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	src := enforce.Sources{Judge: a.engine, Entrypoint: a.entrypoint, Degraded: a.degraded, Report: a.pipeline.Sensor().Report}
	if a.cfg.Approval.Action != approval.ActionOff {
		src.Admit = a.admission.admit
	}
	if r := a.pipeline.Resolver(); r != nil {
		src.Containers = r
	}
	if a.remote != nil {
		src.Ready = a.remote.synced
	}
	wg.Go(func() { a.enforcement.Run(ctx, src) })
	if a.loader != nil {
		wg.Go(func() {
			if err := a.loader.Run(ctx); err != nil {
				a.log.Error("profiles directory no longer followed", zap.Error(err))
			}
		})
	}
	if a.joiner != nil {
		wg.Go(func() { a.joiner.Run(ctx) })
	}
	if a.shipper != nil {
		wg.Go(func() { a.remote.follow(ctx, a.shipper.Conn()) })
		wg.Go(func() { a.reportStatus(ctx) }) // listed from the start, not a status interval later
	}
	a.gap.report(a.cfg.Node, a.out.emit)
	wg.Go(func() { a.periodic(ctx) })
	a.log.Info("agent running", zap.String("node", a.cfg.Node), zap.String("default_mode", string(a.cfg.Modes.Default)))

	_ = a.pipeline.Run(ctx, handler{a}) // the agent's handler never fails
	a.gap.record(time.Now())            // no event is read after this
	a.processes.save()
	cancel()
	wg.Wait()
	return a.shutdown()
}

// handler is the agent's stage of the pipeline.
type handler struct{ a *Agent }

func (h handler) Handle(ctx context.Context, ev *sensor.Event) error {
	h.a.handle(ctx, ev)
	return nil
}

func (handler) Idle() error { return nil }

// handle is the pipeline for one event: attribute, decide, alert.
func (a *Agent) handle(ctx context.Context, ev *sensor.Event) {
	if ev.Type == sensor.TypeFork || ev.Type == sensor.TypeExit {
		return
	}
	enricher := a.pipeline.Enricher()
	rec := enricher.Attribute(ctx, ev)
	v, applies := a.engine.Evaluate(&rec)
	action := actionOf(&rec)
	if fanotifyDenied(a.enforcement.OpensByFanotify(), a.engine, ev, rec.Attribution.Container, v) {
		action = vigilv1.Action_ACTION_BLOCKED
	}
	if action == vigilv1.Action_ACTION_ALERTED && (!applies || !v.Violation()) {
		return
	}
	if !applies { // the kernel acted on what userspace does not judge (a truncated path)
		if rec.Attribution.Container == nil {
			a.log.Warn("the kernel acted outside any known container", zap.Uint32("pid", ev.PID),
				zap.String("type", ev.Type.String()), zap.String("attribution", rec.Attribution.Kind.String()))
			return
		}
		v = policy.KernelVerdict(&rec)
	}
	enricher.Complete(ctx, &rec)
	a.deduper.Report(&rec, v, action)
}

// fanotifyDenied tells an open the fanotify listener refused: EPERM in an
// enforced container, where fanotify judges opens (byFanotify), that the
// tier itself refuses, asked as the listener asks (an EPERM the tier would
// not have given failed for another reason).
func fanotifyDenied(byFanotify bool, j enforce.Judge, ev *sensor.Event, ctr *containers.Container, v profile.Verdict) bool {
	if !byFanotify || ev.Type != sensor.TypeOpen || ev.Open.Ret != -int32(unix.EPERM) || v.Mode != profile.ModeEnforce {
		return false
	}
	a := enforce.OpenVerdict(j, ctr, enforce.OpenQuery{Path: v.Observation.Path,
		Access: func() profile.Access { return v.Observation.Access }, Image: func() bool { return v.Observation.Image }})
	return a.Enforced && !a.Allowed
}

// degraded alerts on a container whose opens the fanotify tier does not
// judge as its profile asks.
func (a *Agent) degraded(ctr *containers.Container, d enforce.Degradation) {
	a.out.emit(alert.Degraded(a.cfg.Node, ctr, d.Outcome, d.Why, time.Now()))
}

// entrypoint is the exec of a container's init process, when the process
// table knows it runs the container's workload.
func (a *Agent) entrypoint(pid uint32) (profile.Observation, bool) {
	p, ok := a.pipeline.Processes().Get(pid)
	return execOf(p), ok && p.Path != "" && p.Contained
}

// execOf is the exec that made p what it runs, as a profile judges it: with
// the applet its argv selects, so that /bin/sleep in a busybox image is
// busybox as sleep, not busybox as any applet. The table keeps no mark of a
// truncated argv; only its first two arguments can select an applet.
func execOf(p process.Process) profile.Observation {
	return profile.Observation{Kind: profile.KindExec, Path: p.Path, Applet: profile.Applet(p.Argv, false)}
}

// actionOf is what the kernel did about an event.
func actionOf(rec *enrich.Record) vigilv1.Action {
	switch rec.Enforcement() {
	case enrich.Killed:
		return vigilv1.Action_ACTION_KILLED
	case enrich.Denied:
		return vigilv1.Action_ACTION_BLOCKED
	}
	return vigilv1.Action_ACTION_ALERTED
}

// periodic runs the agent's housekeeping until ctx ends.
func (a *Agent) periodic(ctx context.Context) {
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	save := time.NewTicker(a.cfg.SaveInterval)
	defer save.Stop()
	var report <-chan time.Time
	if a.shipper != nil {
		t := time.NewTicker(a.cfg.Collector.StatusInterval)
		defer t.Stop()
		report = t.C
	}
	losses := lossLedger{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-flush.C:
			a.gap.record(now)
			a.deduper.Flush(now)
			if st, err := a.pipeline.Sensor().Stats(); err == nil && losses.record(st) {
				a.chargeLosses(&losses)
				if err := a.enforcement.Kernel().ForgetLearned(); err != nil {
					a.log.Error("make learned entries news again after a loss", zap.Error(err))
				}
			}
		case <-save.C:
			if err := a.engine.Save(); err != nil {
				a.log.Error("save learned drafts", zap.Error(err))
			}
		case <-report:
			a.reportStatus(ctx)
			a.submitDrafts(ctx)
		}
	}
}

// lossLedger charges the exec, open, connect and capability events the
// sensor lost: to the containers they were about where the sensor could
// say (DrainLosses), to every learning draft for the rest.
type lossLedger struct {
	lost    uint64 // lost so far (with undecodable records: whose, unknown)
	charged uint64 // charged to a container or the host
	shared  uint64 // charged to every learning draft
}

// record takes the sensor's cumulative counters and reports whether more
// were lost since the last call.
func (l *lossLedger) record(st sensor.Stats) bool {
	var total uint64
	for _, t := range sensor.BehaviourTypes {
		total += st.Lost(t)
	}
	total += st.DecodeErrors
	more := total > l.lost
	l.lost = total
	return more
}

// unassigned is what is lost and charged to no one yet. The sensor's
// per-cgroup counts and its totals are read at different instants, so
// charges may run ahead of the totals for a while: never below zero.
func (l *lossLedger) unassigned() uint64 {
	if l.charged+l.shared >= l.lost {
		return 0
	}
	return l.lost - l.charged - l.shared
}

// chargeLosses marks the drafts the sensor's latest losses may have
// emptied: a container's own draft for its events, every learning draft
// for events whose container is not known. Host events are no draft's.
func (a *Agent) chargeLosses(l *lossLedger) {
	byCgroup, err := a.pipeline.Sensor().DrainLosses()
	if err != nil {
		a.log.Warn("losses by cgroup not read; charged to every learning draft", zap.Error(err))
	}
	res := a.pipeline.Resolver()
	for id, n := range byCgroup {
		if res == nil {
			break
		}
		at, ok := res.Known(id)
		switch {
		case !ok || at.Kind == containers.Unattributed && at.MaybeKnownContainer():
			continue // anyone's: left unassigned
		case at.Kind == containers.InContainer && at.Container.HasImageDigest():
			a.engine.MarkIncompleteDigest(at.Container.ImageDigest, "events of its containers lost before the agent could see them", n)
		}
		l.charged += n
	}
	if n := l.unassigned(); n > 0 {
		a.engine.MarkIncomplete("events lost before the agent could see them", n)
		l.shared += n
	}
}

// shutdown sends what is pending: window summaries, drafts, the spool.
func (a *Agent) shutdown() error {
	a.deduper.Close()
	var errs []error
	if err := a.engine.Save(); err != nil {
		errs = append(errs, fmt.Errorf("save learned drafts: %w", err))
	}
	if a.shipper != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs = append(errs, a.shipper.Close(ctx))
	}
	return errors.Join(errs...)
}

// release detaches the programs and closes everything New opened.
func (a *Agent) release() {
	a.closeOnce.Do(func() {
		if a.pipeline != nil {
			if err := a.pipeline.Close(); err != nil {
				a.log.Warn("close the pipeline", zap.Error(err))
			}
		}
		if a.shipper != nil { // already closed, with a grace period, after a Run
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			a.shipper.Close(ctx)
		}
		if a.out != nil {
			a.out.close()
		}
	})
}

// Drafts returns the drafts this node learned, learning or not.
func (a *Agent) Drafts() []*profile.Draft { return a.engine.Drafts() }

// ProfileInForce returns the profile the agent applies to an image digest.
func (a *Agent) ProfileInForce(digest string) (*profile.Profile, bool) {
	return a.engine.Profile(digest)
}

// Enforcing reports whether the kernel enforces a profile on a container.
func (a *Agent) Enforcing(c *containers.Container) bool { return a.enforcement.Enforcing(c.Scope) }

// Tiers is the enforcement tier of each hook on this node.
func (a *Agent) Tiers() []enforce.HookTier { return a.enforcement.Tiers() }

// Container returns what the agent knows of a container, by id.
func (a *Agent) Container(id string) (*containers.Container, bool) {
	r := a.pipeline.Resolver()
	if r == nil {
		return nil, false
	}
	for _, c := range r.Containers() {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}
