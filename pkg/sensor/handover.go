package sensor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// A restarting agent takes over from the programs a previous agent left
// pinned (Config.Previous): they kept enforcing, and writing to their own
// ring buffers (judged containers' and the rest, as this agent's), while
// no agent read them, and both generations run until this
// agent releases the previous one (EndHandover). Until then the previous
// programs, with the profiles they were compiled with, are the authority
// on what happened: every record of their rings is delivered, and of this
// agent's own, written before the release, only what its programs
// enforced — the rest the previous programs reported too. An action both
// generations took on the same task (both kill an exec, both deny a call)
// is delivered once. So every kill made while no agent read is delivered,
// with the action the kernel took, even when this agent's programs, not
// yet compiled for the container, only traced it. Each ring's records go
// to the queue of its class; twins are matched across all of them, since
// each generation routes a record by its own maps.
type handover struct {
	// end is the kernel time (CLOCK_BOOTTIME ns) the previous programs
	// were released at; math.MaxInt64 until then.
	end atomic.Int64
	// left counts the rings still to read: the previous ones to their
	// end, and this agent's own (passed) past the release.
	left   atomic.Int32
	passed [classLimit]atomic.Bool
	// done is set when left reaches 0: the hand-over is over.
	done atomic.Bool

	mu   sync.Mutex
	seen map[actionKey][]seenAction // enforcement records waiting for their twin

	duplicates atomic.Uint64 // records dropped as the other generation's twins
}

// actionKey is what two generations' records of one enforcement action
// share: the same hook on the same thread of the same cgroup, with the
// same action. Their times differ by the programs' run between them.
type actionKey struct {
	typ    uint32
	tid    uint32
	cgroup uint64
	flags  Flags
}

type seenAction struct {
	own    bool
	timeNs uint64
}

// twinWindow is how far apart two generations' records of one action can
// be: both programs run in the same hook invocation, microseconds apart.
const twinWindow = 10_000_000

// maxSeen bounds the enforcement records kept for matching; past it a
// record is delivered unmatched (a possible duplicate, never a loss).
const maxSeen = 1 << 16

// previousRing is a previous agent's ring buffer, its reader and the
// class of the records its programs wrote to it.
type previousRing struct {
	ring   *ebpf.Map
	reader *ringbuf.Reader
	class  class
}

// adopt starts reading the previous agents' rings and keeps their
// counters (Config.Previous).
func (s *Sensor) adopt(rings map[string][]*ebpf.Map) error {
	n := 0
	for name, maps := range rings {
		if name == bpfobj.RecordMapStats {
			s.previousStats = maps
			continue
		}
		c := slices.Index(ringMaps[:], name)
		if c < 0 {
			s.closePrevious()
			return fmt.Errorf("read a previous agent's ring buffer %s: no such ring", name)
		}
		for _, m := range maps {
			r, err := ringbuf.NewReader(m)
			if err != nil {
				s.closePrevious()
				return fmt.Errorf("read a previous agent's ring buffer %s: %w", name, err)
			}
			s.previous = append(s.previous, previousRing{ring: m, reader: r, class: class(c)})
			n++
		}
	}
	if n > 0 {
		s.handover = newHandover(n)
	}
	return nil
}

// closePrevious closes the readers of the previous agents' rings opened
// so far; New closes the maps.
func (s *Sensor) closePrevious() {
	for _, p := range s.previous {
		p.reader.Close()
	}
	s.previous, s.previousStats = nil, nil
}

// EndHandover is called once the previous agent's programs are released
// (enforce.Kernel.Released): their rings are read to their end, and this
// agent's own to where they are now, past every record written before the
// release, which its readers may lag behind; from then on every own
// record is delivered.
func (s *Sensor) EndHandover() {
	if s.handover == nil {
		return
	}
	s.handover.released()
	for _, p := range s.previous {
		if err := p.reader.Flush(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.log.Warn("read a previous agent's ring buffer to its end", zap.Error(err))
		}
	}
	for c, r := range s.readers {
		if err := r.Flush(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.log.Warn("read the ring buffer past the release", zap.String("ring", ringMaps[c]), zap.Error(err))
		}
	}
	var lost, judged Counts
	if err := s.addPreviousLosses(&lost, &judged); err != nil {
		s.log.Warn("read a previous agent's counters", zap.Error(err))
	}
	for t := range typeLimit {
		if n := lost.LostPrevious[t]; n > 0 {
			s.log.Warn("records of a previous agent's programs lost: its ring buffer was full", zap.Stringer("type", t), zap.Uint64("lost", n))
		}
	}
}

// newHandover starts a hand-over from previous rings.
// reportedByPinned are the event types the previous agent's pinned
// programs (exec, process, capability, io_uring) report too while both
// run. Opens and connects are traced by the sys_exit or fexit families,
// which are not pinned: only this agent's programs report them, so they
// are all kept.
var reportedByPinned = map[Type]bool{TypeExec: true, TypeFork: true, TypeExit: true, TypeCapability: true, TypeIoUring: true}

func newHandover(previous int) *handover {
	h := &handover{seen: map[actionKey][]seenAction{}}
	h.end.Store(math.MaxInt64)
	h.left.Store(int32(previous) + int32(classLimit))
	return h
}

// keep decides whether a record read from this agent's ring of class c
// (own) or a previous generation's is delivered.
func (h *handover) keep(raw []byte, c class, own bool) bool {
	if h.done.Load() {
		return true
	}
	hdr, _, err := fixedPart[bpfobj.RecordEventHeader](raw)
	if err != nil {
		return true // the decoder counts it
	}
	end := uint64(h.end.Load())
	if own && hdr.TimeNs >= end {
		// Written after the release, which stopped the previous programs
		// first: it has no twin, and the ring is read past the release.
		h.pass(c)
		return true
	}
	enforced := Flags(hdr.Flags) & (FlagKilled | FlagDenied)
	if enforced == 0 {
		if own && reportedByPinned[Type(hdr.Type)] {
			h.duplicates.Add(1)
			return false
		}
		return true
	}
	k := actionKey{typ: hdr.Type, tid: hdr.Pid, cgroup: hdr.CgroupId, flags: enforced}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil { // done meanwhile
		return true
	}
	seen := h.seen[k]
	for i, s := range seen {
		if s.own != own && absDiff(s.timeNs, hdr.TimeNs) <= twinWindow {
			h.seen[k] = append(seen[:i], seen[i+1:]...)
			if len(h.seen[k]) == 0 {
				delete(h.seen, k)
			}
			h.duplicates.Add(1)
			return false
		}
	}
	if len(h.seen) < maxSeen {
		h.seen[k] = append(seen, seenAction{own: own, timeNs: hdr.TimeNs})
	}
	return true
}

// released records that the previous programs no longer run.
func (h *handover) released() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		h.end.Store(0) // no clock: every own record is delivered from now on
		return
	}
	h.end.Store(ts.Nano())
}

// drained records that one previous ring is read to its end.
func (h *handover) drained() { h.readOne() }

// pass records that this agent's ring of class c is read past the release.
func (h *handover) pass(c class) {
	if h.passed[c].CompareAndSwap(false, true) {
		h.readOne()
	}
}

// readOne counts one ring read as far as the hand-over needs; after the
// last, no record is left to match.
func (h *handover) readOne() {
	if h.left.Add(-1) > 0 {
		return
	}
	h.done.Store(true)
	h.mu.Lock()
	h.seen = nil
	h.mu.Unlock()
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}
