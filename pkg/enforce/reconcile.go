package enforce

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/procfs"
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
	fanMarks := map[uint32]fanMark{} // scope → what its fanotify marks were made for
	handedOver := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.prompt:
		case <-tick.C:
		}
		// Containers known, and every profile received: what follows puts
		// this agent's enforcement fully in place.
		ready := !handedOver && c.src.Containers.Connected() && (c.src.Ready == nil || c.src.Ready())
		for _, ctr := range c.src.Containers.Containers() {
			if !ctr.HasImageDigest() {
				continue
			}
			d, p := c.src.Judge.Mode(ctr)
			if err := c.enforcer.Apply(ctr, d.Mode, p); err != nil {
				c.log.Error("enforce a profile", zap.String("container", ctr.ID), zap.Error(err))
				ready = false // the previous agent's enforcement stays until this one is whole
				continue
			}
			if d.Mode == profile.ModeEnforce && p != nil {
				c.warnEntrypoint(ctr, p, warned)
			}
			c.markOpens(ctr, d.Mode, p, fanMarks)
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
	path, ok := c.src.Entrypoint(ctr.PID)
	if !ok {
		return
	}
	warned[k] = true
	if v := c.src.Judge.Judge(ctr, profile.Observation{Kind: profile.KindExec, Path: path}); v.Mode == profile.ModeEnforce && !v.Allowed {
		c.log.Warn("the enforced profile does not allow the container's own entrypoint: it could not start again",
			zap.String("container", ctr.ID), zap.String("image", ctr.Image), zap.String("entrypoint", path),
			zap.Int64("version", p.Metadata.Version))
	}
}

// fanMark is what a container's fanotify marks were made for: its task's
// mounts (a restarted container keeps its scope but has new mounts) and the
// profile its cached allows came from.
type fanMark struct {
	pid     uint32
	profile *profile.Profile
}

// markOpens keeps the fanotify listener on the mounts of enforced
// containers, and drops its cached allows when a profile changes.
func (c *Controller) markOpens(ctr *containers.Container, mode profile.Mode, p *profile.Profile, marked map[uint32]fanMark) {
	if c.fanotify == nil {
		return
	}
	prev, was := marked[ctr.Scope]
	if mode != profile.ModeEnforce || p == nil {
		if was {
			c.fanotify.Unmark(ctr.Scope)
			c.fanotify.Forget() // cached allows outlive the marks: the next profile judges afresh
			delete(marked, ctr.Scope)
		}
		return
	}
	pid, err := c.processIn(ctr)
	if err != nil {
		c.log.Error("find a container's process to mark its mounts", zap.String("container", ctr.ID), zap.Error(err))
		return
	}
	if was && prev == (fanMark{pid, p}) {
		return
	}
	if was {
		c.fanotify.Unmark(ctr.Scope)
		if prev.profile != p {
			c.fanotify.Forget() // cached allows were judged by the old profile
		}
	}
	if err := c.fanotify.Mark(ctr.Scope, pid); err != nil {
		c.log.Error("put a container's mounts under the fanotify listener", zap.String("container", ctr.ID), zap.Error(err))
		delete(marked, ctr.Scope)
		return
	}
	marked[ctr.Scope] = fanMark{pid, p}
}

// processIn finds a live process of the container, to reach its mounts:
// its init as containerd reported it, else one from its cgroup.
func (c *Controller) processIn(ctr *containers.Container) (uint32, error) {
	if ctr.PID != 0 && procfs.Exists(c.procRoot, ctr.PID) {
		return ctr.PID, nil
	}
	b, err := os.ReadFile(filepath.Join(c.cgroupRoot, ctr.CgroupPath, "cgroup.procs"))
	if err != nil {
		return 0, fmt.Errorf("processes of container %s: %w", ctr.ID, err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.ParseUint(first, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("container %s has no process: %w", ctr.ID, err)
	}
	return uint32(pid), nil
}
