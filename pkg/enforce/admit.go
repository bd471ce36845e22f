package enforce

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// A container's image is judged once per task, by Sources.Admit, as soon as
// the container is known: usually at containerd's /tasks/create, while runc
// init waits to be started. A container admission refuses is stopped: its
// later execs held by the kernel (HoldForMarks) and every process of it
// killed, runc's init with them, so its entrypoint never runs unless it had
// been started before the container was known.

// Stop is what stopping a container did: whether its workload had run (a
// process of it exec'd in the container and was not held before its first
// instruction) and how many processes were killed.
type Stop struct {
	WorkloadRan bool
	Killed      int
}

// admissions is the reconcile loop's record of what admission decided.
type admissions struct {
	asked   map[*containers.Container]bool
	stopped map[uint32]bool // scopes of stopped containers, held while listed
}

func newAdmissions() *admissions {
	return &admissions{asked: map[*containers.Container]bool{}, stopped: map[uint32]bool{}}
}

// admit asks Sources.Admit about a container task it was not asked about
// and reports whether the container may be enforced as usual: false once
// it was stopped. Without Admit, or before every profile is known (a
// digest's profile may be on its way), every container may.
func (c *Controller) admit(ctr *containers.Container, a *admissions) bool {
	if c.src.Admit == nil {
		return true
	}
	if !a.asked[ctr] && (c.src.Ready == nil || c.src.Ready()) {
		a.asked[ctr] = true
		c.src.Admit(ctr, func() (Stop, error) {
			a.stopped[ctr.Scope] = true
			return c.stopContainer(ctr)
		})
	}
	return !a.stopped[ctr.Scope]
}

// forgetAdmissions drops what is recorded of containers no longer listed,
// and stops holding their scopes.
func (c *Controller) forgetAdmissions(a *admissions, listed map[*containers.Container]bool, seen map[uint32]bool) {
	for ctr := range a.asked {
		if !listed[ctr] {
			delete(a.asked, ctr)
		}
	}
	for scope := range a.stopped {
		if seen[scope] {
			continue
		}
		delete(a.stopped, scope)
		if _, err := c.kernel.ReleaseHeld(scope); err != nil {
			c.log.Error("stop holding a stopped container's scope", zap.Uint32("scope", scope), zap.Error(err))
		}
	}
}

// stopContainer holds the execs of ctr's scope, then kills its processes.
func (c *Controller) stopContainer(ctr *containers.Container) (Stop, error) {
	if err := c.kernel.HoldForMarks(ctr.Scope); err != nil {
		return Stop{}, fmt.Errorf("stop container %s: %w", ctr.ID, err)
	}
	pids, err := c.processesOf(ctr)
	if err != nil && ctr.PID == 0 {
		return Stop{}, fmt.Errorf("stop container %s: %w", ctr.ID, err)
	}
	if err != nil {
		pids = []uint32{ctr.PID} // its cgroup is gone or unreadable: its init at least
	}
	held, err := c.kernel.heldIn(ctr.Scope)
	if err != nil {
		return Stop{}, fmt.Errorf("stop container %s: %w", ctr.ID, err)
	}
	var st Stop
	var errs []error
	for _, pid := range pids {
		if !held[pid] {
			if contained, err := c.kernel.Contained(int(pid)); err == nil && contained {
				st.WorkloadRan = true
			}
		}
		if err := unix.Kill(int(pid), unix.SIGKILL); err != nil {
			if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("kill process %d of container %s: %w", pid, ctr.ID, err))
			}
			continue
		}
		st.Killed++
	}
	return st, errors.Join(errs...)
}

// heldIn lists the processes the kernel holds for scope.
func (k *Kernel) heldIn(scope uint32) (map[uint32]bool, error) {
	held := map[uint32]bool{}
	var tgid, s uint32
	it := k.objs.Map(bpfobj.RecordMapHeldTasks).Iterate()
	for it.Next(&tgid, &s) {
		if s == scope {
			held[tgid] = true
		}
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return nil, fmt.Errorf("list held processes: %w", err)
	}
	return held, nil
}
