package enforce

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Containers are the node's containers as attribution knows them;
// *containers.Resolver is the real one.
type Containers interface {
	// Connected reports whether every running container is known.
	Connected() bool
	Containers() []*containers.Container
	Lookup(ctx context.Context, cgroupID uint64) containers.Attribution
	// Known is Lookup from what is known already, without asking
	// containerd; false for a cgroup not attributed yet.
	Known(cgroupID uint64) (containers.Attribution, bool)
}

// Judge is the one judge of what a container may do; *policy.Engine is the
// real one. Every tier decides through it: the kernel's maps are compiled
// from the mode and profile Mode gives, the fanotify tier asks Judge.
type Judge interface {
	Mode(c *containers.Container) (profile.ModeDecision, *profile.Profile)
	Judge(c *containers.Container, o profile.Observation) profile.Verdict
}

// Sources are what the controller keeps enforcement in line with.
type Sources struct {
	// Containers is nil without containerd: no container is enforced, and
	// a previous agent's enforcement is released at once.
	Containers Containers
	Judge      Judge
	// Ready reports whether every profile that will be in force is known
	// (the collector's first snapshot arrived): with the containers known,
	// this agent's enforcement is then whole and a previous agent's is
	// released. Nil is always ready.
	Ready func() bool
	// Entrypoint is the exec of a container's init process (its executable
	// and the applet its argv selects), when the process table knows it and
	// it runs the container's workload.
	Entrypoint func(pid uint32) (profile.Observation, bool)
	// Report hands the pipeline an event no program reports (the fanotify
	// tier's refusal of an io_uring request's open); nil: counted only.
	Report func(sensor.Event)
	// Degraded is told of each container whose opens the fanotify tier
	// does not judge as its profile asks (see Degradation); nil: logged only.
	Degraded func(*containers.Container, Degradation)
	// Admit, when set, judges each container task's image once, as soon as
	// the container is known and every profile is; stop stops the
	// container (see Stop). A stopped container is not enforced further.
	Admit func(ctr *containers.Container, stop func() (Stop, error))
}

// Degradation is why a container's opens are not judged as its profile
// asks: Outcome is refused (a mount to mark was the host's or another
// container's: nothing was marked), unmarked (its mounts could not be
// marked for markUrgent) or late (marked after its workload ran).
type Degradation struct {
	Outcome string
	Why     string
}

// Controller is a node's enforcement: the kernel's side of the programs,
// the tier each hook is enforced at, the enforcer compiling profiles into
// the kernel, the fanotify listener where opens are enforced by fanotify,
// and the loop keeping all of it in line with the containers, their modes
// and profiles.
type Controller struct {
	log        *zap.Logger
	kernel     *Kernel
	enforcer   *Enforcer
	fanotify   *Fanotify  // nil unless opens are enforced by fanotify
	opens      *openCache // the fanotify tier's verdicts; nil without it
	tiersMu    sync.Mutex
	tiers      []HookTier
	tierGauge  *prometheus.GaugeVec // vigil_enforcement_tier
	scopes     *scopeTable
	prompt     chan struct{} // a container appeared: reconcile
	procRoot   string
	cgroupRoot string

	src Sources // set by Run, before the listener starts
}

// NewController takes the objects loaded with cfg.Programs(), pins their
// enforcing links, and settles each hook's tier; probes are what
// KernelConfig.ForThisNode found: why BPF LSM programs do not run here,
// and why fmod_ret programs do not load (each nil where they do: cfg.LSM,
// cfg.ModReturn).
func NewController(objs *bpfobj.Objects, cfg KernelConfig, probes Probes, log *zap.Logger, reg prometheus.Registerer) (*Controller, error) {
	k, err := NewKernel(objs, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("pin enforcement: %w", err)
	}
	c := &Controller{log: log, kernel: k, prompt: make(chan struct{}, 1), procRoot: cfg.ProcRoot, cgroupRoot: cfg.CgroupRoot}
	guardErr := k.Unavailable(bpfobj.FamilyConnectGuard.Name)
	beforeAction := cfg.LSM || cfg.ModReturn // exec, open and connect are denied in the kernel
	if !beforeAction && cfg.CgroupRoot == "" {
		guardErr = errors.New("no cgroup2 mount to attach to")
	}
	var fanErr error
	if !beforeAction {
		c.fanotify, fanErr = NewFanotify(c.judgeOpen, cfg.ProcRoot, cfg.HostMntNS, log, reg)
		if c.fanotify != nil {
			c.fanotify.unreported, c.fanotify.cached = c.reportRefusal, c.cachedOpen
			if c.opens, err = newOpenCache(reg); err != nil {
				return nil, fmt.Errorf("register fanotify metrics: %w", err)
			}
		}
	}
	probes.CapabilityHook, probes.IoUringHook = capabilityHookErr(objs), objs.Unavailable(bpfobj.FamilyIoUring.Name)
	probes.ConnectGuard, probes.Fanotify = guardErr, fanErr
	probes.UnixGuard, probes.UnixSignal = unixGuardErr(k, cfg), !cfg.GuardUnix
	c.tiers = Tiers(probes)
	for _, t := range c.tiers {
		log.Info("enforcement tier", zap.String("hook", t.Hook), zap.String("tier", string(t.Tier)), zap.String("why", t.Reason))
	}
	if c.tierGauge, err = RegisterTiers(reg, c.tiers); err != nil {
		return nil, err
	}
	if c.enforcer, err = New(k.Policy(), KernelHooks(c.tiers), log, reg); err != nil {
		return nil, err
	}
	c.scopes = &scopeTable{kernel: k.Scopes(), prompt: c.prompt, scopes: map[uint64]uint32{},
		gone: func(scope uint32) {
			if err := c.enforcer.Forget(scope); err != nil {
				log.Warn("stop enforcing a removed container", zap.Error(err))
			}
		}}
	return c, nil
}

// capabilityHookErr is why no capability program of the sensor's is
// attached (fexit/cap_capable or the cap_capable tracepoint), or nil.
func capabilityHookErr(objs *bpfobj.Objects) error {
	if objs.Attached(bpfobj.FamilyCapabilityFexit.Name) != nil {
		return nil
	}
	return objs.Unavailable(bpfobj.FamilyCapability.Name)
}

// unixGuardErr is why the cgroup/connect_unix program is not attached, or
// nil when it is.
func unixGuardErr(k *Kernel, cfg KernelConfig) error {
	switch {
	case cfg.GuardUnix:
		return k.Unavailable(bpfobj.FamilyUnixGuard.Name)
	case cfg.CgroupRoot == "":
		return errors.New("no cgroup2 mount to attach to")
	}
	if err := ProbeUnixConnect(); err != nil {
		return err
	}
	return errors.New("not asked for")
}

// Scopes is the scope table container attribution keeps.
func (c *Controller) Scopes() containers.ScopeTable { return c.scopes }

// Kernel is the kernel's side of the programs.
func (c *Controller) Kernel() *Kernel { return c.kernel }

// Tiers is the enforcement tier of each hook on this node.
func (c *Controller) Tiers() []HookTier {
	c.tiersMu.Lock()
	defer c.tiersMu.Unlock()
	return slices.Clone(c.tiers)
}

// openTierLost records that the fanotify listener stopped with err: the
// open guard kills for forbidden opens now, or where it is not loaded
// (guardErr says why) opens are only alerted on; vigil_enforcement_tier
// says which.
func (c *Controller) openTierLost(err, guardErr error) {
	c.tiersMu.Lock()
	defer c.tiersMu.Unlock()
	lost := HookTier{Hook: "open", Tier: TierSignal, Reason: "the fanotify listener stopped: forbidden opens are killed at their exit (" + err.Error() + ")"}
	if guardErr != nil {
		lost = HookTier{Hook: "open", Tier: TierAlertOnly, Reason: "the fanotify listener stopped: " + err.Error() + "; no open guard: " + guardErr.Error()}
	}
	for i, t := range c.tiers {
		if t.Hook != "open" || t.Tier != TierFanotify {
			continue
		}
		c.tierGauge.DeleteLabelValues(t.Hook, string(t.Tier), t.Reason)
		c.tiers[i] = lost
		c.tierGauge.WithLabelValues(lost.Hook, string(lost.Tier), lost.Reason).Set(1)
	}
}

// Enforcing reports whether the kernel enforces a profile on a scope.
func (c *Controller) Enforcing(scope uint32) bool { return c.enforcer.Enforcing(scope) }

// OpensByFanotify reports whether the fanotify listener enforces opens: an
// open that failed with EPERM in an enforced container, outside its
// profile, was refused by it.
func (c *Controller) OpensByFanotify() bool { return c.fanotify != nil && !c.fanotify.Stopped() }

// Run keeps enforcement in line with src until ctx ends: the fanotify
// listener answers opens, and the kernel is reconciled with the
// containers whenever one appears and every reconcileEvery.
func (c *Controller) Run(ctx context.Context, src Sources) {
	c.src = src
	var wg sync.WaitGroup
	if c.fanotify != nil {
		// The listener outlives ctx until the open guard is told it stops.
		listening, stopListening := context.WithCancel(context.Background())
		wg.Go(func() { c.beat(ctx, stopListening) })
		wg.Go(func() {
			if err := c.fanotify.Run(listening); err != nil {
				c.log.Error("fanotify listener stopped: forbidden opens are killed at their exit by the open guard, or only alerted on where it is not loaded", zap.Error(err))
				c.openTierLost(err, c.kernel.Unavailable(bpfobj.FamilyOpenGuard.Name))
				select {
				case c.prompt <- struct{}{}: // the containers held for their marks are continued
				default: // a reconcile is pending already
				}
			}
		})
	}
	if src.Containers == nil {
		c.releasePrevious() // no containers: nothing of a previous agent's to keep
	} else {
		wg.Go(func() { c.reconcileLoop(ctx) })
	}
	wg.Wait()
	// The listener's marks went with it: nothing is to be held for them.
	n, err := c.kernel.ReleaseAllHeld()
	if err != nil {
		c.log.Error("continue the processes held for their container's marks", zap.Error(err))
	}
	if n > 0 {
		c.log.Info("continued the processes held for their container's marks", zap.Int("held", n))
	}
}

// degraded reports a container whose opens are not judged as its profile asks.
func (c *Controller) degraded(ctr *containers.Container, outcome, why string) {
	if c.src.Degraded != nil {
		c.src.Degraded(ctr, Degradation{Outcome: outcome, Why: why})
	}
}

// beat tells the open guard that the fanotify listener judges opens, every
// listenerBeat until ctx ends or the listener fails; then that it does not,
// and only after that stops the listener: no open goes unjudged between.
func (c *Controller) beat(ctx context.Context, stopListening context.CancelFunc) {
	defer stopListening()
	tick := time.NewTicker(listenerBeat)
	defer tick.Stop()
	for alive := true; ; {
		if err := c.kernel.ListenerBeat(alive); err != nil {
			c.log.Error("tell the open guard whether the fanotify listener runs", zap.Bool("alive", alive), zap.Error(err))
		}
		if !alive {
			return
		}
		select {
		case <-ctx.Done():
			alive = false
		case <-tick.C:
			alive = !c.fanotify.Stopped()
		}
	}
}

// releasePrevious hands over from a previous agent's pinned enforcement,
// once this agent's own is in place.
func (c *Controller) releasePrevious() {
	if err := c.kernel.ReleasePrevious(); err != nil {
		c.log.Error("release the previous agent's enforcement", zap.Error(err))
	}
}
