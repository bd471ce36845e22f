package enforce

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// The open guard (bpf/open_guard.bpf.c) kills for an enforced container's
// forbidden open that succeeded while no fanotify listener judged it: from
// an agent's exit, clean or not, until the next agent's listener runs and
// its marks are in place (the previous generation's guard runs until the
// release). It knows a listener runs by the heartbeat the agent refreshes
// every listenerBeat while its listener reads events and clears before the
// listener stops; a heartbeat older than listenerStale is an agent that
// died without clearing it. A heartbeat missed under load only lets the
// guard judge too: it kills only for an open the listener would have
// refused, which therefore did not succeed while it judged.
const (
	listenerBeat  = 100 * time.Millisecond
	listenerStale = 300 * time.Millisecond
)

// ListenerBeat records that the fanotify listener judges opens now (alive)
// or no longer does.
func (k *Kernel) ListenerBeat(alive bool) error {
	var now uint64
	if alive {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			return fmt.Errorf("read the monotonic clock: %w", err)
		}
		now = uint64(ts.Nano())
	}
	if err := k.objs.Map(bpfobj.RecordMapOpenListener).Put(uint32(0), now); err != nil {
		return fmt.Errorf("write the open listener's heartbeat: %w", err)
	}
	return nil
}
