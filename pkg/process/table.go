// Package process keeps a table of the node's processes, fed by the sensor's
// exec, fork and exit events and seeded from /proc, so that every event can
// carry its ancestry: parent, grandparent, … up to the container's init.
package process

import (
	"sync"
	"time"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Process is what the table knows of one process.
type Process struct {
	PID      uint32
	PPID     uint32
	Comm     string
	Path     string   // the executable; empty when unknown
	Argv     []string // as of the last exec; nil when unknown
	CgroupID uint64
	// Contained: the process runs its container's workload — it, or the
	// ancestor it forked from, exec'd outside the host's mount namespace.
	// The runtime's processes entering a container (runc init setting it
	// up) are not contained until they exec the container's program, so
	// their plumbing is not taken for the image's behaviour. A container's
	// process cannot shed it: everything it starts descends from an exec.
	// The kernel keeps it per task and every event carries it
	// (sensor.FlagWorkload): the exec that decides it may never reach the
	// table (runc's exec on the host is outside a cgroup filter, or lost).
	Contained bool
}

// maxAncestry bounds an ancestry chain, against cycles from pid reuse.
const maxAncestry = 32

// Table maps process ids to processes. Safe for concurrent use.
type Table struct {
	mu        sync.Mutex
	procs     map[uint32]*entry
	exits     []exit // oldest first
	linger    time.Duration
	limit     int
	hostMntNS uint32
	dropped   uint64
	// changes counts the changes to any process (added, removed, a field
	// set to another value): an ancestry walked at one count is the same
	// walk at the same count.
	changes    uint64
	ancestries [ancestrySlots]walkedAncestry
}

// ancestrySlots is how many processes' ancestries the table keeps walked,
// by pid modulo: trace asks for the ancestry of every event, and a loop's
// process has the same one event after event, until a process anywhere
// changes.
const ancestrySlots = 64

// walkedAncestry is the ancestry last walked for a process, as of a count
// of the table's changes.
type walkedAncestry struct {
	pid     uint32
	changes uint64
	valid   bool
	chain   []Process
}

type entry struct {
	Process
	exited bool
}

type exit struct {
	pid uint32
	at  time.Time
}

// NewTable returns an empty table holding at most limit processes. An exited
// process stays for linger, so that events of its children still find it.
// hostMntNS is the host's mount namespace: processes seeded from
// /proc are judged Contained as the kernel judges a task it has no record
// of, by whether they run in another.
func NewTable(limit int, linger time.Duration, hostMntNS uint32) *Table {
	return &Table{procs: make(map[uint32]*entry), limit: limit, linger: linger, hostMntNS: hostMntNS}
}

// Observe updates the table from one event.
func (t *Table) Observe(ev *sensor.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(ev.Time)

	if ev.Type == sensor.TypeExec && ev.Flags.Has(sensor.FlagDenied) {
		return // refused before it happened: the process is unchanged
	}
	e := t.procs[ev.PID]
	if e == nil {
		// First seen mid-life: started while the agent loaded, or its
		// fork was lost or filtered out.
		e = t.add(Process{PID: ev.PID})
		if e == nil {
			return
		}
	}
	// The parent changes when the old one dies (reparenting), the cgroup on
	// migration, the name on exec or prctl, containment on exec.
	contained := ev.Flags.Has(sensor.FlagWorkload)
	if e.PPID != ev.PPID || e.CgroupID != ev.CgroupID || e.Comm != ev.Comm || e.Contained != contained {
		e.PPID, e.CgroupID, e.Comm, e.Contained = ev.PPID, ev.CgroupID, ev.Comm, contained
		t.changes++
	}

	switch ev.Type {
	case sensor.TypeExec:
		e.Path, e.Argv = ev.Exec.Path, ev.Exec.Argv
		t.changes++
	case sensor.TypeFork:
		t.add(Process{
			PID:       ev.Fork.ChildPID,
			PPID:      ev.PID,
			Comm:      ev.Comm,
			Path:      e.Path,
			Argv:      e.Argv,
			CgroupID:  ev.Fork.ChildCgroupID,
			Contained: e.Contained,
		})
	case sensor.TypeExit:
		if !e.exited {
			e.exited = true
			t.exits = append(t.exits, exit{pid: ev.PID, at: ev.Time})
		}
	}
}

// add inserts or replaces (pid reuse) a process; nil when the table is full.
func (t *Table) add(p Process) *entry {
	if _, ok := t.procs[p.PID]; !ok && len(t.procs) >= t.limit {
		t.dropped++
		return nil
	}
	e := &entry{Process: p}
	t.procs[p.PID] = e
	t.changes++
	return e
}

// expire removes processes that exited more than linger before now.
func (t *Table) expire(now time.Time) {
	n := 0
	for _, x := range t.exits {
		if now.Sub(x.at) < t.linger {
			break
		}
		if e := t.procs[x.pid]; e != nil && e.exited {
			delete(t.procs, x.pid)
			t.changes++
		}
		n++
	}
	t.exits = t.exits[n:]
}

// Get returns the process with the given pid.
func (t *Table) Get(pid uint32) (Process, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.procs[pid]; e != nil {
		return e.Process, true
	}
	return Process{}, false
}

// AppendAncestry appends to chain the parent of pid, its parent, and so on,
// for as long as within accepts them (nil accepts all) and the table knows
// them. With a nil within, the walk is kept and given again until the
// table changes.
func (t *Table) AppendAncestry(chain []Process, pid uint32, within func(Process) bool) []Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	if within != nil {
		return t.walk(chain, pid, within)
	}
	slot := &t.ancestries[pid%ancestrySlots]
	if !slot.valid || slot.pid != pid || slot.changes != t.changes {
		slot.chain = t.walk(slot.chain[:0], pid, nil)
		slot.pid, slot.changes, slot.valid = pid, t.changes, true
	}
	return append(chain, slot.chain...)
}

// walk appends pid's ancestry within within to chain.
func (t *Table) walk(chain []Process, pid uint32, within func(Process) bool) []Process {
	e := t.procs[pid]
	for n := 0; e != nil && n < maxAncestry; n++ {
		parent := t.procs[e.PPID]
		if parent == nil || parent.PID == e.PID || (within != nil && !within(parent.Process)) {
			break
		}
		chain = append(chain, parent.Process)
		e = parent
	}
	return chain
}

// Len is the number of processes in the table.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.procs)
}

// Dropped counts processes not added because the table was full.
func (t *Table) Dropped() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}
