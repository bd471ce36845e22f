package enforce

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// ProfileMaps is where compiled profiles go; *PolicyMaps is the real one.
type ProfileMaps interface {
	SetScope(scope uint32, pol ScopePolicy) error
	DeleteScope(scope uint32) error
	PutProfile(id uint32, paths []PathRule, nets []NetRule, masks Masks) error
	DeleteProfile(id uint32, paths []PathRule, nets []NetRule) error
}

// Enforcer keeps the kernel enforcing, for every container of an
// enforce-mode image, that image's profile. Safe for concurrent use.
type Enforcer struct {
	kernel ProfileMaps
	hooks  Hooks // the hooks a kernel tier enforces on this node
	log    *zap.Logger
	m      *metrics

	mu       sync.Mutex
	nextID   uint32
	profiles map[*profile.Profile]*loaded // compiled and in the kernel
	scopes   map[uint32]scopeState        // scope → its profile in the kernel
	learning map[uint32]bool              // scopes whose repeats the kernel collapses
}

type scopeState struct {
	l    *loaded
	mode profile.Mode
}

type loaded struct {
	id    uint32
	c     compiled
	users int // scopes enforcing it
}

// New returns an Enforcer loading profiles into kernel and enforcing them
// on hooks (those the node has a kernel tier for).
func New(kernel ProfileMaps, hooks Hooks, log *zap.Logger, reg prometheus.Registerer) (*Enforcer, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Enforcer{kernel: kernel, hooks: hooks, log: log, m: m,
		profiles: map[*profile.Profile]*loaded{}, scopes: map[uint32]scopeState{}, learning: map[uint32]bool{}}, nil
}

// Apply points the kernel at p for container c: in enforce mode it denies
// what p does not allow, in monitor and enforce modes what p allows stays in
// the kernel (only news is reported); in learn mode the kernel reports a
// file, inet destination or capability the container keeps using once per
// learn window, with a count (the learner needs each entry and how often,
// not every use); without a profile it does nothing. It is cheap when
// nothing changed. A new profile version is loaded before the scope moves
// to it and the old one unloaded after: the container is never unenforced
// in between.
func (e *Enforcer) Apply(c *containers.Container, mode profile.Mode, p *profile.Profile) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, has := e.scopes[c.Scope]
	if mode == profile.ModeLearn {
		return e.learn(c.Scope, cur, has)
	}
	if p == nil {
		return e.clear(c.Scope)
	}
	if has && cur.mode == mode && e.profiles[p] == cur.l {
		return nil
	}
	l, err := e.load(p)
	if err != nil {
		return err
	}
	var enforce Hooks
	if mode == profile.ModeEnforce {
		enforce = e.hooks
	}
	if err := e.kernel.SetScope(c.Scope, ScopePolicy{Profile: l.id, Enforce: enforce, Suppress: l.c.exact}); err != nil {
		if l.users == 0 { // loaded for this scope alone
			e.unload(l)
		}
		return err
	}
	l.users++
	if has {
		e.release(c.Scope, cur.l)
	}
	e.scopes[c.Scope] = scopeState{l: l, mode: mode}
	e.setLearning(c.Scope, false)
	e.m.scopes.Set(float64(len(e.scopes)))
	e.log.Info("container profile in the kernel", zap.String("container", c.ID), zap.String("image", c.Image),
		zap.String("digest", c.ImageDigest), zap.String("mode", string(mode)), zap.Int64("version", p.Metadata.Version),
		zap.Uint32("scope", c.Scope))
	return nil
}

// learn moves scope to learning: its repeated opens, inet connects and
// capability uses collapse in the kernel.
// Callers hold mu.
func (e *Enforcer) learn(scope uint32, cur scopeState, profiled bool) error {
	if e.learning[scope] {
		return nil
	}
	if err := e.kernel.SetScope(scope, ScopePolicy{Collapse: HookOpen | HookConnect | HookCapability}); err != nil {
		return err
	}
	if profiled {
		e.release(scope, cur.l)
	}
	e.setLearning(scope, true)
	return nil
}

// setLearning notes whether scope is learned. Callers hold mu.
func (e *Enforcer) setLearning(scope uint32, learning bool) {
	if learning {
		e.learning[scope] = true
	} else {
		delete(e.learning, scope)
	}
	e.m.learning.Set(float64(len(e.learning)))
}

// Enforcing reports whether the kernel enforces a profile on scope.
func (e *Enforcer) Enforcing(scope uint32) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scopes[scope].mode == profile.ModeEnforce
}

// Forget stops enforcing on a scope whose containers are gone.
func (e *Enforcer) Forget(scope uint32) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clear(scope)
}

// clear removes whatever the kernel does for scope. Callers hold mu.
func (e *Enforcer) clear(scope uint32) error {
	cur, profiled := e.scopes[scope]
	if !profiled && !e.learning[scope] {
		return nil
	}
	if err := e.kernel.DeleteScope(scope); err != nil {
		return err // still in force: its rules must stay
	}
	e.setLearning(scope, false)
	if profiled {
		e.release(scope, cur.l)
	}
	return nil
}

// load compiles p into the kernel unless it is there already. Callers hold mu.
func (e *Enforcer) load(p *profile.Profile) (*loaded, error) {
	if l := e.profiles[p]; l != nil {
		return l, nil
	}
	e.nextID++
	l := &loaded{id: e.nextID, c: compile(p)}
	if err := e.kernel.PutProfile(l.id, l.c.paths, l.c.nets, l.c.masks); err != nil {
		return nil, errors.Join(err, e.kernel.DeleteProfile(l.id, l.c.paths, l.c.nets))
	}
	for _, w := range l.c.widened {
		e.log.Warn("profile entry enforced more loosely than written", zap.String("digest", p.Metadata.Digest), zap.String("entry", w))
	}
	e.profiles[p] = l
	e.m.profiles.Set(float64(len(e.profiles)))
	e.m.rules.Add(float64(len(l.c.paths) + len(l.c.nets)))
	return l, nil
}

// release drops scope's use of l, unloading l when nothing uses it.
// Callers hold mu.
func (e *Enforcer) release(scope uint32, l *loaded) {
	delete(e.scopes, scope)
	e.m.scopes.Set(float64(len(e.scopes)))
	if l.users--; l.users > 0 {
		return
	}
	e.unload(l)
}

// unload removes a profile no scope uses. Callers hold mu.
func (e *Enforcer) unload(l *loaded) {
	for p, pl := range e.profiles {
		if pl == l {
			delete(e.profiles, p)
		}
	}
	e.m.profiles.Set(float64(len(e.profiles)))
	e.m.rules.Sub(float64(len(l.c.paths) + len(l.c.nets)))
	if err := e.kernel.DeleteProfile(l.id, l.c.paths, l.c.nets); err != nil {
		e.log.Warn("unload a compiled profile", zap.Uint32("profile", l.id), zap.Error(err))
	}
}

type metrics struct {
	scopes, learning, profiles, rules prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		scopes:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_kernel_profiled_containers", Help: "Container scopes the kernel judges with a compiled profile (monitor or enforce)."}),
		learning: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_kernel_learning_containers", Help: "Container scopes whose repeated opens, inet connects and capability uses the kernel counts while their image is learned."}),
		profiles: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_enforced_profiles", Help: "Profiles compiled into the kernel."}),
		rules:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_enforced_rules", Help: "Path and network rules in the kernel's maps."}),
	}
	for _, c := range []prometheus.Collector{m.scopes, m.learning, m.profiles, m.rules} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register enforcement metrics: %w", err)
		}
	}
	return m, nil
}
