package enforce

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// An enforced container's mounts are marked for the fanotify listener as
// soon as a process of the container runs in its own, pivoted, mount
// namespace — runc's init waiting to be started will do — and before its
// workload runs: from the moment the container is known until its marks are
// in place, the kernel stops every workload exec of its scope (HoldForMarks)
// and the marks' release continues them. A container known only after its
// workload started is marked as soon as it is known, and said to be late.

// markRetry is how soon a container's marks are tried again while its
// processes are not yet in its own root, for markUrgent; then at the
// reconcile's own pace.
const (
	markRetry  = 10 * time.Millisecond
	markUrgent = 5 * time.Second
)

// fanMark is what a container's marks were made for: its task (a restarted
// container keeps its scope but has new mounts) and the profile its cached
// allows came from.
type fanMark struct {
	pid     uint32 // the task's init as containerd reported it; 0 when not known
	profile *profile.Profile
}

// openMarks is the reconcile loop's record of the marks.
type openMarks struct {
	marked  map[uint32]fanMark
	pending map[uint32]time.Time // scope → since when its execs are held
	warned  map[uint32]bool      // scopes whose failure to be marked was reported
	// unenforced are the scopes seen running while not enforced: a profile
	// promoted later finds their workload running, which is no race lost.
	unenforced map[uint32]bool
}

func newOpenMarks() *openMarks {
	return &openMarks{marked: map[uint32]fanMark{}, pending: map[uint32]time.Time{}, warned: map[uint32]bool{},
		unenforced: map[uint32]bool{}}
}

// urgent reports whether a container's marks have been pending for less
// than markUrgent.
func (m *openMarks) urgent() bool {
	for _, since := range m.pending {
		if time.Since(since) < markUrgent {
			return true
		}
	}
	return false
}

// forgetOpens drops the fanotify tier's cached verdicts: the kernel's
// ignore marks, which the old profile's allows left, and the listener's
// own, which a new profile would never hit again.
func (c *Controller) forgetOpens() {
	c.fanotify.Forget()
	c.opens.forget()
}

// markOpens keeps the fanotify listener on the mounts of an enforced
// container, and drops its cached allows when its profile changes. It
// reports false while the container's marks are not in place.
func (c *Controller) markOpens(ctr *containers.Container, mode profile.Mode, p *profile.Profile, m *openMarks) bool {
	if c.fanotify == nil {
		return true
	}
	if c.fanotify.Stopped() || mode != profile.ModeEnforce || p == nil {
		if _, was := m.marked[ctr.Scope]; was {
			c.forgetOpens() // cached allows outlive the marks: the next profile judges afresh
		}
		c.unmarkOpens(ctr.Scope, m)
		m.unenforced[ctr.Scope] = true
		return true
	}
	prev, was := m.marked[ctr.Scope]
	if was && ctr.PID != 0 && prev.pid != 0 && ctr.PID != prev.pid {
		c.unmarkOpens(ctr.Scope, m) // a new task: new mounts
		was = false
	}
	if was {
		if prev.profile != p {
			c.forgetOpens() // cached allows were judged by the old profile
			m.marked[ctr.Scope] = fanMark{max(ctr.PID, prev.pid), p}
		}
		return true
	}
	since, held := m.pending[ctr.Scope]
	if !held {
		if err := c.kernel.HoldForMarks(ctr.Scope); err != nil {
			c.log.Error("hold a container's workload until its mounts are marked", zap.String("container", ctr.ID), zap.Error(err))
		}
		since = time.Now()
		m.pending[ctr.Scope] = since
	}
	ran := c.workloadRan(ctr) // before the marks: once they are in place, its start is judged
	if err := c.markContainer(ctr); err != nil {
		c.markFailed(ctr, since, err, m)
		return false
	}
	released, err := c.kernel.ReleaseHeld(ctr.Scope)
	if err != nil {
		c.log.Error("continue a container's held processes", zap.String("container", ctr.ID), zap.Error(err))
	}
	delete(m.pending, ctr.Scope)
	delete(m.warned, ctr.Scope)
	m.marked[ctr.Scope] = fanMark{ctr.PID, p}
	outcome := "before_workload"
	switch {
	case released > 0:
		outcome = "held"
	case ran && (m.unenforced[ctr.Scope] || ctr.Source == containers.SourceInventory):
		outcome = "running" // enforced after it started, or found running by this agent
	case ran:
		outcome = "late"
	}
	delete(m.unenforced, ctr.Scope)
	c.fanotify.m.marks.WithLabelValues(outcome).Inc()
	fields := []zap.Field{zap.String("container", ctr.ID), zap.Uint32("scope", ctr.Scope), zap.String("outcome", outcome),
		zap.Int("held", released), zap.Duration("pending", time.Since(since))}
	if !ctr.CreatedAt.IsZero() {
		fields = append(fields, zap.Duration("since_create", time.Since(ctr.CreatedAt)))
	}
	if outcome == "late" {
		c.log.Error("a container's workload ran before its opens were judged: it was known too late to be held", fields...)
		c.degraded(ctr, outcome, "its workload ran before its mounts were marked: it was known too late to be held")
	} else {
		c.log.Info("container mounts marked for the fanotify tier", fields...)
	}
	return true
}

// markFailed reports a container whose mounts could not be marked: its
// workload stays held. A host or another container's mount among them is
// refused at once; a container still being set up is reported once it has
// been pending for markUrgent.
func (c *Controller) markFailed(ctr *containers.Container, since time.Time, err error, m *openMarks) {
	refused := errors.Is(err, errHostMount) || errors.Is(err, errSharedMount)
	if m.warned[ctr.Scope] || (!refused && time.Since(since) < markUrgent) {
		return
	}
	m.warned[ctr.Scope] = true
	if refused {
		c.fanotify.m.marks.WithLabelValues("refused").Inc()
		c.log.Error("refused to mark a container's mounts for the fanotify tier: its workload is held", zap.String("container", ctr.ID),
			zap.Uint32("scope", ctr.Scope), zap.Error(err))
		c.degraded(ctr, "refused", "refused to mark its mounts, its workload is held: "+err.Error())
		return
	}
	c.log.Error("a container's mounts cannot be marked for the fanotify tier: its workload is held", zap.String("container", ctr.ID),
		zap.Uint32("scope", ctr.Scope), zap.Duration("pending", time.Since(since)), zap.Error(err))
	c.degraded(ctr, "unmarked", fmt.Sprintf("its mounts could not be marked for %s, its workload is held: %v", time.Since(since).Round(time.Millisecond), err))
}

// markContainer marks the mounts of ctr through the first of its processes
// that runs in the container's own root.
func (c *Controller) markContainer(ctr *containers.Container) error {
	pids, err := c.processesOf(ctr)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		workload, _ := c.kernel.Contained(int(pid)) // a process gone is not
		err := c.fanotify.Mark(ctr.Scope, pid, workload)
		if err == nil || !errors.Is(err, errNotContained) {
			return err
		}
	}
	return fmt.Errorf("container %s: no process in its own root yet: %w", ctr.ID, errNotContained)
}

// processesOf lists the container's processes: its init as containerd
// reported it first, then those of its cgroup.
func (c *Controller) processesOf(ctr *containers.Container) ([]uint32, error) {
	var pids []uint32
	if ctr.PID != 0 {
		pids = append(pids, ctr.PID)
	}
	b, err := os.ReadFile(filepath.Join(c.cgroupRoot, ctr.CgroupPath, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("processes of container %s: %w", ctr.ID, err)
	}
	for _, line := range strings.Fields(string(b)) {
		if pid, err := strconv.ParseUint(line, 10, 32); err == nil && uint32(pid) != ctr.PID {
			pids = append(pids, uint32(pid))
		}
	}
	return pids, nil
}

// workloadRan reports whether a process of ctr runs its workload already.
func (c *Controller) workloadRan(ctr *containers.Container) bool {
	pids, err := c.processesOf(ctr)
	if err != nil {
		return false
	}
	for _, pid := range pids {
		if contained, err := c.kernel.Contained(int(pid)); err == nil && contained {
			return true
		}
	}
	return false
}

// unmarkOpens removes a container's marks and stops holding its execs.
func (c *Controller) unmarkOpens(scope uint32, m *openMarks) {
	if _, was := m.marked[scope]; was {
		c.fanotify.Unmark(scope)
		delete(m.marked, scope)
	}
	if _, held := m.pending[scope]; held {
		if _, err := c.kernel.ReleaseHeld(scope); err != nil {
			c.log.Error("continue a container's held processes", zap.Uint32("scope", scope), zap.Error(err))
		}
		delete(m.pending, scope)
	}
	delete(m.warned, scope)
	delete(m.unenforced, scope)
}

// dropGone unmarks the containers not seen in this reconcile: their task
// exited, or they were removed.
func (c *Controller) dropGone(m *openMarks, seen map[uint32]bool) {
	if c.fanotify == nil {
		return
	}
	for scope := range m.marked {
		if !seen[scope] {
			c.unmarkOpens(scope, m)
		}
	}
	for scope := range m.pending {
		if !seen[scope] {
			c.unmarkOpens(scope, m)
		}
	}
	for scope := range m.unenforced {
		if !seen[scope] {
			delete(m.unenforced, scope)
		}
	}
}
