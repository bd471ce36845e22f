package agent

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// reconcileEvery bounds how long a profile or mode change takes to reach
// the kernel when no container event prompts it sooner.
const reconcileEvery = 2 * time.Second

// scopeSync is the resolver's kernel scope table: it writes the sensor's
// and asks for a reconcile whenever a container appears, so that its
// enforcement follows within microseconds of the resolver knowing it.
type scopeSync struct {
	kernel *sensor.ScopeMap
	prompt chan<- struct{}

	mu     sync.Mutex
	scopes map[uint64]uint32 // cgroup → scope, to know when a scope is empty
	gone   func(scope uint32)
}

func (s *scopeSync) Set(cgroupID uint64, scope uint32) error {
	if err := s.kernel.Set(cgroupID, scope); err != nil {
		return err
	}
	s.mu.Lock()
	s.scopes[cgroupID] = scope
	s.mu.Unlock()
	select {
	case s.prompt <- struct{}{}:
	default: // a reconcile is pending already
	}
	return nil
}

func (s *scopeSync) Delete(cgroupID uint64) error {
	if err := s.kernel.Delete(cgroupID); err != nil {
		return err
	}
	s.mu.Lock()
	scope, ok := s.scopes[cgroupID]
	delete(s.scopes, cgroupID)
	empty := ok
	for _, other := range s.scopes {
		if other == scope {
			empty = false
			break
		}
	}
	s.mu.Unlock()
	if empty {
		s.gone(scope)
	}
	return nil
}

// enforceLoop keeps the kernel's enforcement in line with containers, modes
// and profiles until ctx ends.
func (a *Agent) enforceLoop(ctx context.Context, prompt <-chan struct{}) {
	tick := time.NewTicker(reconcileEvery)
	defer tick.Stop()
	warned := map[entrypointKey]bool{}
	handedOver := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-prompt:
		case <-tick.C:
		}
		// Containers known, and the collector's profiles (if any) received:
		// what follows puts this agent's enforcement fully in place.
		ready := !handedOver && a.resolver.Connected() && (a.remote == nil || a.remote.synced())
		for _, c := range a.resolver.Containers() {
			if !c.HasImageDigest() {
				continue
			}
			d, p := a.engine.Mode(c)
			if err := a.enforcer.Apply(c, d.Mode, p); err != nil {
				a.log.Error("enforce a profile", zap.String("container", c.ID), zap.Error(err))
				continue
			}
			if d.Mode == profile.ModeEnforce && p != nil {
				a.warnEntrypoint(c, p, warned)
			}
		}
		if ready {
			a.releasePrevious()
			handedOver = true
		}
	}
}

type entrypointKey struct {
	container string
	profile   *profile.Profile
}

// warnEntrypoint says when a profile enforced on a container would not let
// it start again: applied all the same (the operator asked for it).
func (a *Agent) warnEntrypoint(c *containers.Container, p *profile.Profile, warned map[entrypointKey]bool) {
	k := entrypointKey{c.ID, p}
	if warned[k] {
		return
	}
	init, ok := a.table.Get(c.PID)
	if !ok || init.Path == "" || !init.Contained {
		return
	}
	warned[k] = true
	if allowed, _ := p.Allows(profile.Observation{Kind: profile.KindExec, Path: init.Path}); !allowed {
		a.log.Warn("the enforced profile does not allow the container's own entrypoint: it could not start again",
			zap.String("container", c.ID), zap.String("image", c.Image), zap.String("entrypoint", init.Path),
			zap.Int64("version", p.Metadata.Version))
	}
}
