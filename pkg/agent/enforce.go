package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/procfs"
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
	kernel *enforce.ScopeMap
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
	fanMarks := map[uint32]fanMark{} // scope → what its fanotify marks were made for
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
				ready = false // the previous agent's enforcement stays until this one is whole
				continue
			}
			if d.Mode == profile.ModeEnforce && p != nil {
				a.warnEntrypoint(c, p, warned)
			}
			a.markOpens(c, d.Mode, p, fanMarks)
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
	if v := a.engine.Judge(c, profile.Observation{Kind: profile.KindExec, Path: init.Path}); v.Mode == profile.ModeEnforce && !v.Allowed {
		a.log.Warn("the enforced profile does not allow the container's own entrypoint: it could not start again",
			zap.String("container", c.ID), zap.String("image", c.Image), zap.String("entrypoint", init.Path),
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
func (a *Agent) markOpens(c *containers.Container, mode profile.Mode, p *profile.Profile, marked map[uint32]fanMark) {
	if a.fanotify == nil {
		return
	}
	prev, was := marked[c.Scope]
	if mode != profile.ModeEnforce || p == nil {
		if was {
			a.fanotify.Unmark(c.Scope)
			a.fanotify.Forget() // cached allows outlive the marks: the next profile judges afresh
			delete(marked, c.Scope)
		}
		return
	}
	pid, err := a.processIn(c)
	if err != nil {
		a.log.Error("find a container's process to mark its mounts", zap.String("container", c.ID), zap.Error(err))
		return
	}
	if was && prev == (fanMark{pid, p}) {
		return
	}
	if was {
		a.fanotify.Unmark(c.Scope)
		if prev.profile != p {
			a.fanotify.Forget() // cached allows were judged by the old profile
		}
	}
	if err := a.fanotify.Mark(c.Scope, pid); err != nil {
		a.log.Error("put a container's mounts under the fanotify listener", zap.String("container", c.ID), zap.Error(err))
		delete(marked, c.Scope)
		return
	}
	marked[c.Scope] = fanMark{pid, p}
}

// processIn finds a live process of the container, to reach its mounts:
// its init as containerd reported it, else one from its cgroup.
func (a *Agent) processIn(c *containers.Container) (uint32, error) {
	if c.PID != 0 {
		if procfs.Exists(a.cfg.ProcRoot, c.PID) {
			return c.PID, nil
		}
	}
	b, err := os.ReadFile(filepath.Join(a.cgroupRoot, c.CgroupPath, "cgroup.procs"))
	if err != nil {
		return 0, fmt.Errorf("processes of container %s: %w", c.ID, err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.ParseUint(first, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("container %s has no process: %w", c.ID, err)
	}
	return uint32(pid), nil
}

// judgeOpen is the fanotify listener's judge: the open's process, its
// container, the container's mode and profile. Opens of the runtime setting
// a container up, and of containers not enforced, are let through.
func (a *Agent) judgeOpen(pid int32, path string) (enforced, allowed bool) {
	// The kernel's own record and /proc: the process table may lag behind
	// an open that is waiting for this answer.
	contained, err := a.kernel.Contained(int(pid))
	if err != nil || !contained || a.cgroupRoot == "" {
		return false, true
	}
	rel, err := cgroup.OfProcess(a.cfg.ProcRoot, uint32(pid))
	if err != nil {
		return false, true
	}
	id, err := cgroup.ID(filepath.Join(a.cgroupRoot, rel))
	if err != nil {
		return false, true
	}
	attr := a.resolver.Lookup(context.Background(), id)
	if attr.Container == nil || !attr.Container.HasImageDigest() {
		return false, true
	}
	// The listener cannot tell read from write: the open's access is unknown.
	v := a.engine.Judge(attr.Container, profile.Observation{Kind: profile.KindOpen, Path: path})
	if v.Mode != profile.ModeEnforce {
		return false, true
	}
	return true, v.Allowed
}

// fanotifyDenied tells an open the fanotify listener refused: EPERM in an
// enforced container, outside its profile, where fanotify judges opens.
func (a *Agent) fanotifyDenied(ev *sensor.Event, v profile.Verdict) bool {
	return a.fanotify != nil && ev.Type == sensor.TypeOpen && ev.Open.Ret == -int32(unix.EPERM) &&
		v.Mode == profile.ModeEnforce && v.Violation()
}
