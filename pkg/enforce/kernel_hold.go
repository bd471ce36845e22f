package enforce

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// A container whose opens the fanotify listener enforces must not run its
// workload before its mounts are marked: the kernel stops (SIGSTOP) every
// workload exec of a scope whose marks are pending, before the new program's
// first instruction, and records it; once the marks are in place the scope
// is released and its stopped processes continued (SIGCONT).

// HoldForMarks stops the workload execs of scope from now on, until
// ReleaseHeld.
func (k *Kernel) HoldForMarks(scope uint32) error {
	if err := k.objs.Map(bpfobj.RecordMapMarksPending).Put(scope, uint8(1)); err != nil {
		return fmt.Errorf("hold scope %d for its marks: %w", scope, err)
	}
	return nil
}

// ReleaseHeld stops holding scope's execs and continues the processes the
// kernel stopped for it; it returns how many.
func (k *Kernel) ReleaseHeld(scope uint32) (int, error) {
	if err := k.objs.Map(bpfobj.RecordMapMarksPending).Delete(scope); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, fmt.Errorf("release scope %d: %w", scope, err)
	}
	return continueHeld(k.objs.Map(bpfobj.RecordMapHeldTasks), func(s uint32) bool { return s == scope })
}

// ReleaseAllHeld stops holding any scope and continues every process held:
// for an agent that stops, whose fanotify marks go with it.
func (k *Kernel) ReleaseAllHeld() (int, error) {
	pending := k.objs.Map(bpfobj.RecordMapMarksPending)
	var scope uint32
	var scopes []uint32
	var one uint8
	it := pending.Iterate()
	for it.Next(&scope, &one) {
		scopes = append(scopes, scope)
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("list held scopes: %w", err)
	}
	for _, s := range scopes {
		if err := pending.Delete(s); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0, fmt.Errorf("release scope %d: %w", s, err)
		}
	}
	return continueHeld(k.objs.Map(bpfobj.RecordMapHeldTasks), func(uint32) bool { return true })
}

// continueHeld continues the processes in the table held whose scope
// matches. A process gone meanwhile is just forgotten.
func continueHeld(held *ebpf.Map, match func(scope uint32) bool) (int, error) {
	var tgid, scope uint32
	var tgids []uint32
	it := held.Iterate()
	for it.Next(&tgid, &scope) {
		if match(scope) {
			tgids = append(tgids, tgid)
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("list held processes: %w", err)
	}
	n := 0
	var errs []error
	for _, t := range tgids {
		if err := held.Delete(t); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("forget held process %d: %w", t, err))
			continue
		}
		if err := unix.Kill(int(t), unix.SIGCONT); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("continue held process %d: %w", t, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
