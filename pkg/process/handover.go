package process

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/pkg/atomicfile"
)

// A stopping agent hands the contained processes it knows over to the next
// one (Save, Restore). What the pinned programs report while no agent reads
// (a kill of the open guard, say) is read by the next agent, perhaps after
// the process ended: its exec, read by the agent that stopped, is what names
// it (argv, executable). A crashed agent hands nothing over.

// handoverVersion is the layout of the hand-over file.
const handoverVersion = 1

// maxHandoverBytes bounds the hand-over file read: a full table (65 536
// processes) with argv as the sensor truncates it stays well below.
const maxHandoverBytes = 64 << 20

// ErrHandoverRejected: the hand-over file is not one Restore may use
// (malformed, another layout, written before the last boot).
var ErrHandoverRejected = errors.New("process hand-over rejected")

// ErrHandoverFromAnotherBoot: the hand-over file was written before the
// last boot, as a clean stop before a reboot leaves it; its processes are
// gone. One kind of ErrHandoverRejected.
var ErrHandoverFromAnotherBoot = fmt.Errorf("%w: written before the last boot", ErrHandoverRejected)

type handoverFile struct {
	Version int    `json:"version"`
	BootID  string `json:"boot_id"` // start times are since this boot
	// Saved is when the file was written, for logs.
	Saved     time.Time      `json:"saved"`
	Processes []savedProcess `json:"processes"`
}

type savedProcess struct {
	PID  uint32 `json:"pid"`
	PPID uint32 `json:"ppid"`
	// Start is the process's start time, in clock ticks after boot
	// (/proc/PID/stat); 0: it had ended when the file was saved (its exit
	// not read yet), so any process with its pid now is another.
	Start    uint64   `json:"start,omitempty"`
	Comm     string   `json:"comm"`
	Path     string   `json:"path,omitempty"`
	Argv     []string `json:"argv,omitempty"`
	CgroupID uint64   `json:"cgroup_id"`
}

// Save writes the table's contained processes not known to have exited to
// name, replacing it atomically, with their start times read from procRoot;
// it returns how many it wrote.
func (t *Table) Save(name, procRoot string) (int, error) {
	boot, err := bootID(procRoot)
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	saved := make([]savedProcess, 0, len(t.procs))
	for _, e := range t.procs {
		if e.exited || !e.Contained {
			continue
		}
		saved = append(saved, savedProcess{PID: e.PID, PPID: e.PPID, Comm: e.Comm, Path: e.Path, Argv: e.Argv, CgroupID: e.CgroupID})
	}
	t.mu.Unlock()
	for i := range saved {
		// Not found: it ended and its exit was not read (Start stays 0).
		saved[i].Start, _ = startTime(procRoot, saved[i].PID)
	}
	data, err := json.Marshal(handoverFile{Version: handoverVersion, BootID: boot, Saved: time.Now(), Processes: saved})
	if err != nil {
		return 0, fmt.Errorf("encode process hand-over: %w", err)
	}
	if err := atomicfile.Write(name, data); err != nil {
		return 0, fmt.Errorf("write process hand-over: %w", err)
	}
	return len(saved), nil
}

// Restored says what Restore did with the processes of a hand-over file.
type Restored struct {
	Live   int // running still (same pid and start time): named as saved
	Exited int // ended since: kept as exited, for the table's linger
	Reused int // their pid is another process's now: left alone
	Full   int // dropped: the table was full
}

// Restore reads the hand-over file name (Save's) and removes it, so that
// it is used once: an agent that crashes after this one leaves none. Each
// process running still gets what the stopping agent knew of it (argv,
// executable) over what seeding read from procfs; one that ended since is
// added as exited at now, so that the records read from the pinned rings
// find it for as long as the table keeps exited processes. A pid another
// process holds now is left alone. No file is no hand-over (ok false). A file
// Restore may not use (ErrHandoverRejected) restores nothing.
func (t *Table) Restore(name, procRoot string, now time.Time) (_ Restored, ok bool, _ error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Restored{}, false, nil
	}
	if err != nil {
		return Restored{}, false, fmt.Errorf("open process hand-over: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxHandoverBytes+1))
	f.Close()
	if rmErr := os.Remove(name); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("remove process hand-over: %w", rmErr))
	}
	if err != nil {
		return Restored{}, false, fmt.Errorf("read process hand-over: %w", err)
	}
	h, err := decodeHandover(data, procRoot)
	if err != nil {
		return Restored{}, false, err
	}
	var r Restored
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changes++ // the entries below are changed in place
	for _, p := range h.Processes {
		start, err := startTime(procRoot, p.PID)
		switch {
		case err == nil && (p.Start == 0 || start != p.Start):
			r.Reused++
		case err == nil:
			e := t.procs[p.PID]
			if e == nil {
				if e = t.add(Process{PID: p.PID, PPID: p.PPID, Comm: p.Comm, CgroupID: p.CgroupID}); e == nil {
					r.Full++
					continue
				}
			}
			// Seeding read its parent, cgroup, name and executable as they
			// are now, but not its argv. An exec since, read from the
			// rings, replaces what the stopping agent knew.
			if e.Path == "" {
				e.Path = p.Path
			}
			e.Argv, e.Contained = p.Argv, true
			r.Live++
		default:
			if t.procs[p.PID] != nil {
				// Seeded, and ended since: whether it was this one is
				// not known.
				r.Reused++
				continue
			}
			e := t.add(Process{PID: p.PID, PPID: p.PPID, Comm: p.Comm, Path: p.Path, Argv: p.Argv, CgroupID: p.CgroupID, Contained: true})
			if e == nil {
				r.Full++
				continue
			}
			e.exited = true
			t.exits = append(t.exits, exit{pid: p.PID, at: now})
			r.Exited++
		}
	}
	return r, true, nil
}

// decodeHandover parses a hand-over file and checks it is this boot's.
func decodeHandover(data []byte, procRoot string) (handoverFile, error) {
	var h handoverFile
	if len(data) > maxHandoverBytes {
		return h, fmt.Errorf("%w: larger than %d bytes", ErrHandoverRejected, maxHandoverBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("%w: %w", ErrHandoverRejected, err)
	}
	if h.Version != handoverVersion {
		return h, fmt.Errorf("%w: version %d, want %d", ErrHandoverRejected, h.Version, handoverVersion)
	}
	for _, p := range h.Processes {
		if p.PID == 0 {
			return h, fmt.Errorf("%w: a process with pid 0", ErrHandoverRejected)
		}
	}
	boot, err := bootID(procRoot)
	if err != nil {
		return h, err
	}
	if h.BootID != boot {
		return h, fmt.Errorf("%w: saved in boot %q, this is %q", ErrHandoverFromAnotherBoot, h.BootID, boot)
	}
	return h, nil
}

// bootID tells this boot from others: start times count from it.
func bootID(procRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys", "kernel", "random", "boot_id"))
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// startTime is when process pid started, in clock ticks after boot: with
// its pid, it tells the process from any later one that reuses the pid.
func startTime(procRoot string, pid uint32) (uint64, error) {
	stat, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10), "stat"))
	if err != nil {
		return 0, err
	}
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	// After the comm: state (field 3) … starttime (field 22).
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed start time in stat: %w", err)
	}
	return start, nil
}
