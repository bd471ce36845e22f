package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

// fakeProc is a procfs with a boot id and, for each pid, a stat line that
// holds its start time.
type fakeProc string

func newFakeProc(t *testing.T, boot string) fakeProc {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sys", "kernel", "random"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := fakeProc(root)
	p.boot(t, boot)
	return p
}

func (p fakeProc) boot(t *testing.T, id string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(string(p), "sys", "kernel", "random", "boot_id"), []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run puts process pid in the table, started at start; 0 removes it.
func (p fakeProc) run(t *testing.T, pid uint32, comm string, start uint64) {
	t.Helper()
	dir := filepath.Join(string(p), strconv.FormatUint(uint64(pid), 10))
	if start == 0 {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 2490368 200 18446744073709551615\n", pid, comm, pid, pid, start)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

func execOf(pid uint32, argv []string, contained bool, at time.Time) *sensor.Event {
	e := &sensor.Event{Type: sensor.TypeExec, PID: pid, PPID: 1, Comm: filepath.Base(argv[0]), CgroupID: 7, Time: at}
	e.Exec.Path, e.Exec.Argv = argv[0], argv
	if contained {
		e.Flags |= sensor.FlagWorkload
	}
	return e
}

// TestRestoreNamesAProcessTheStoppedAgentSawStart: the stopping agent read
// a process's exec; the pinned open guard killed it while no agent read,
// and it is gone when the next agent reads the kill. The next agent names it
// from the hand-over (argv, executable) for as long as the table keeps an
// exited process. A process running still is named too; a pid another
// process took is left alone; host and exited processes are not handed
// over; the file is used once.
func TestRestoreNamesAProcessTheStoppedAgentSawStart(t *testing.T) {
	proc := newFakeProc(t, "boot-1")
	name := filepath.Join(t.TempDir(), "processes.json")
	stopping := NewTable(100, 5*time.Second, hostNS)
	argv := func(pid uint32) []string {
		return []string{"/bin/sh", "-c", "read x < /opt/tools/secret", "read", strconv.Itoa(int(pid))}
	}
	for pid, start := range map[uint32]uint64{100: 500, 200: 600, 300: 700} {
		proc.run(t, pid, "sh (a) b", start)
		stopping.Observe(execOf(pid, argv(pid), true, t0))
	}
	// Ended with their exits not read by the stopping agent: no start time.
	stopping.Observe(execOf(600, argv(600), true, t0))
	stopping.Observe(execOf(700, argv(700), true, t0))
	proc.run(t, 400, "cron", 800)
	stopping.Observe(execOf(400, []string{"/usr/sbin/cron"}, false, t0)) // the host's
	stopping.Observe(execOf(500, argv(500), true, t0))
	stopping.Observe(&sensor.Event{Type: sensor.TypeExit, PID: 500, Time: t0})
	n, err := stopping.Save(name, string(proc))
	if err != nil || n != 5 {
		t.Fatalf("save: %d processes, %v; want 5 (100, 200, 300, 600, 700)", n, err)
	}

	// While no agent runs: 200 is killed, 300's pid and 700's are reused.
	proc.run(t, 200, "", 0)
	proc.run(t, 300, "other", 900)
	proc.run(t, 700, "other", 901)
	next := NewTable(100, 5*time.Second, hostNS)
	if err := next.Seed(string(proc), ""); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	r, ok, err := next.Restore(name, string(proc), now)
	if want := (Restored{Live: 1, Exited: 2, Reused: 2}); err != nil || !ok || r != want {
		t.Fatalf("restore: %+v, found %v, %v; want %+v", r, ok, err, want)
	}
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the hand-over file is left after its restore (%v): a crashed successor's successor would use it", err)
	}

	// The kill record, read from the pinned ring after the restore.
	kill := &sensor.Event{Type: sensor.TypeOpen, Flags: sensor.FlagKilled | sensor.FlagWorkload, PID: 200, PPID: 1, Comm: "sh", CgroupID: 7,
		Time: now.Add(-time.Second)}
	next.Observe(kill)
	for _, pid := range []uint32{100, 200, 600} {
		if p, ok := next.Get(pid); !ok || !slices.Equal(p.Argv, argv(pid)) || p.Path != "/bin/sh" || !p.Contained {
			t.Errorf("process %d after the restore: %+v, %v; want it named as the stopping agent saw it start", pid, p, ok)
		}
	}
	for _, pid := range []uint32{300, 700} {
		if p, ok := next.Get(pid); !ok || p.Argv != nil || p.Comm != "other" {
			t.Errorf("reused pid %d after the restore: %+v, %v; want the process procfs shows, unnamed", pid, p, ok)
		}
	}
	for _, pid := range []uint32{400, 500} {
		if p, ok := next.Get(pid); ok && p.Argv != nil {
			t.Errorf("process %d handed over: %+v; host and exited processes are not", pid, p)
		}
	}
	next.Observe(&sensor.Event{Type: sensor.TypeFork, PID: 100, Time: now.Add(6 * time.Second), Fork: sensor.Fork{ChildPID: 101}})
	if _, ok := next.Get(200); ok {
		t.Error("a process that ended while no agent ran is kept past the table's linger")
	}
	if _, ok, err := next.Restore(name, string(proc), now); ok || err != nil {
		t.Errorf("second restore: found %v, %v; want no file", ok, err)
	}
}

// TestRestoreRejectsWhatItMayNotUse: a file that is not a hand-over of
// this boot restores nothing, says why, and is removed.
func TestRestoreRejectsWhatItMayNotUse(t *testing.T) {
	proc := newFakeProc(t, "boot-1")
	proc.run(t, 100, "sh", 500)
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.json")
	tab := NewTable(100, time.Second, hostNS)
	tab.Observe(execOf(100, []string{"/bin/sh"}, true, t0))
	if _, err := tab.Save(valid, string(proc)); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, content, boot string
	}{
		{"truncated", string(saved[:len(saved)/2]), "boot-1"},
		{"not json", "\x00\x01garbage", "boot-1"},
		{"another version", `{"version":2,"boot_id":"boot-1","processes":[]}`, "boot-1"},
		{"pid 0", `{"version":1,"boot_id":"boot-1","processes":[{"pid":0,"comm":"x"}]}`, "boot-1"},
		{"unknown field", `{"version":1,"boot_id":"boot-1","processes":[],"extra":1}`, "boot-1"},
		{"before a reboot", string(saved), "boot-2"},
	} {
		proc.boot(t, tc.boot)
		name := filepath.Join(dir, "processes.json")
		if err := os.WriteFile(name, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		next := NewTable(100, time.Second, hostNS)
		r, ok, err := next.Restore(name, string(proc), t0)
		if !errors.Is(err, ErrHandoverRejected) || ok || r != (Restored{}) || next.Len() != 0 {
			t.Errorf("%s: %+v, found %v, %v, %d processes; want it rejected, nothing restored", tc.name, r, ok, err, next.Len())
		}
		if reboot := tc.boot != "boot-1"; errors.Is(err, ErrHandoverFromAnotherBoot) != reboot {
			t.Errorf("%s: %v; want ErrHandoverFromAnotherBoot only for a file from another boot", tc.name, err)
		}
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the rejected file is left (%v)", tc.name, err)
		}
	}
}

// TestStartTimeOfThisProcess reads the real procfs's stat.
func TestStartTimeOfThisProcess(t *testing.T) {
	start, err := startTime("/proc", uint32(os.Getpid()))
	if err != nil || start == 0 {
		t.Fatalf("start time of this process: %d, %v", start, err)
	}
	if again, _ := startTime("/proc", uint32(os.Getpid())); again != start {
		t.Errorf("start time read twice: %d, then %d", start, again)
	}
}
