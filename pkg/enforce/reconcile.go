package enforce

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// reconcileEvery bounds how long a profile or mode change takes to reach
// the kernel when no container event prompts it sooner.
const reconcileEvery = 2 * time.Second

// reconcileLoop keeps the kernel's enforcement in line with containers,
// modes and profiles until ctx ends.
func (c *Controller) reconcileLoop(ctx context.Context) {
	tick := time.NewTicker(reconcileEvery)
	defer tick.Stop()
	warned := map[entrypointKey]bool{}
	marks := newOpenMarks()
	admitted := newAdmissions()
	handedOver := false
	var retry <-chan time.Time // a container's marks are to be tried again
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.prompt:
		case <-tick.C:
		case <-retry:
		}
		retry = nil
		seen := map[uint32]bool{}
		listed := map[*containers.Container]bool{}
		// Containers known, and every profile received: what follows puts
		// this agent's enforcement fully in place.
		ready := !handedOver && c.src.Containers.Connected() && (c.src.Ready == nil || c.src.Ready())
		for _, ctr := range c.src.Containers.Containers() {
			listed[ctr] = true
			if !c.admit(ctr, admitted) {
				seen[ctr.Scope] = true // stopped: held until it is gone
				continue
			}
			if !ctr.HasImageDigest() {
				continue
			}
			seen[ctr.Scope] = true
			d, p := c.src.Judge.Mode(ctr)
			if err := c.enforcer.Apply(ctr, d.Mode, p); err != nil {
				c.log.Error("enforce a profile", zap.String("container", ctr.ID), zap.Error(err))
				ready = false // the previous agent's enforcement stays until this one is whole
				continue
			}
			if d.Mode == profile.ModeEnforce && p != nil {
				c.warnEntrypoint(ctr, p, warned)
			}
			if !c.markOpens(ctr, d.Mode, p, marks) {
				ready = false // not marked yet: what the previous agent's programs hold waits for its marks
			}
		}
		c.dropGone(marks, seen)
		c.forgetAdmissions(admitted, listed, seen)
		if marks.urgent() {
			retry = time.After(markRetry)
		}
		if ready {
			c.releasePrevious()
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
func (c *Controller) warnEntrypoint(ctr *containers.Container, p *profile.Profile, warned map[entrypointKey]bool) {
	k := entrypointKey{ctr.ID, p}
	if warned[k] || c.src.Entrypoint == nil {
		return
	}
	exec, ok := c.src.Entrypoint(ctr.PID)
	if !ok {
		return
	}
	warned[k] = true
	if v := c.src.Judge.Judge(ctr, exec); v.Mode == profile.ModeEnforce && !v.Allowed {
		c.log.Warn("the enforced profile does not allow the container's own entrypoint: it could not start again",
			zap.String("container", ctr.ID), zap.String("image", ctr.Image), zap.String("entrypoint", exec.Path),
			zap.String("applet", exec.Applet), zap.Int64("version", p.Metadata.Version))
	}
}
