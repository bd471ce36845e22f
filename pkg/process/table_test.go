package process

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const hostNS = 4026531840

func ev(typ sensor.Type, pid, ppid uint32, comm string, at time.Duration) *sensor.Event {
	return &sensor.Event{Type: typ, PID: pid, PPID: ppid, Comm: comm, CgroupID: 1, MntNS: hostNS, Time: t0.Add(at)}
}

func pids(ps []Process) []uint32 {
	var out []uint32
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

func TestAncestryFollowsForkAndExec(t *testing.T) {
	tab := NewTable(100, time.Second, hostNS)
	// init(1) → shell(10) → child(20) → grandchild(30)
	e := ev(sensor.TypeExec, 1, 0, "init", 0)
	e.Exec.Path = "/sbin/init"
	tab.Observe(e)
	fork := ev(sensor.TypeFork, 1, 0, "init", 0)
	fork.Fork = sensor.Fork{ChildPID: 10, ChildCgroupID: 5}
	tab.Observe(fork)
	e = ev(sensor.TypeExec, 10, 1, "sh", 0)
	e.Exec.Path = "/bin/sh"
	tab.Observe(e)
	fork = ev(sensor.TypeFork, 10, 1, "sh", 0)
	fork.Fork = sensor.Fork{ChildPID: 20, ChildCgroupID: 7}
	tab.Observe(fork)
	fork = ev(sensor.TypeFork, 20, 10, "sh", 0)
	fork.CgroupID = 7 // the child's own events come from its cgroup
	fork.Fork = sensor.Fork{ChildPID: 30, ChildCgroupID: 7}
	tab.Observe(fork)

	child, ok := tab.Get(20)
	if !ok || child.Path != "/bin/sh" || child.Comm != "sh" || child.CgroupID != 7 {
		t.Errorf("forked child = %+v, want it to inherit the parent's image and get its own cgroup", child)
	}
	if got := pids(tab.AppendAncestry(nil, 30, nil)); !slices.Equal(got, []uint32{20, 10, 1}) {
		t.Errorf("ancestry of 30 = %v, want [20 10 1]", got)
	}
	sameCgroup := func(p Process) bool { return p.CgroupID == 7 }
	if got := pids(tab.AppendAncestry(nil, 30, sameCgroup)); !slices.Equal(got, []uint32{20}) {
		t.Errorf("ancestry of 30 within cgroup 7 = %v, want [20]", got)
	}
	if got := tab.AppendAncestry(nil, 999, nil); got != nil {
		t.Errorf("ancestry of an unknown pid = %v", got)
	}
}

func TestExitedProcessesLingerThenGo(t *testing.T) {
	tab := NewTable(100, time.Second, hostNS)
	tab.Observe(ev(sensor.TypeExec, 10, 1, "sh", 0))
	tab.Observe(ev(sensor.TypeExec, 11, 10, "ls", 0))
	tab.Observe(ev(sensor.TypeExit, 10, 1, "sh", 0))

	tab.Observe(ev(sensor.TypeOpen, 11, 10, "ls", 500*time.Millisecond))
	if got := pids(tab.AppendAncestry(nil, 11, nil)); !slices.Equal(got, []uint32{10}) {
		t.Errorf("a child's ancestry right after its parent exited = %v, want [10]", got)
	}
	tab.Observe(ev(sensor.TypeOpen, 11, 1, "ls", 2*time.Second))
	if _, ok := tab.Get(10); ok {
		t.Error("an exited process is still in the table after linger")
	}
	if p, _ := tab.Get(11); p.PPID != 1 {
		t.Errorf("reparented child has ppid %d, want 1", p.PPID)
	}
}

func TestTableIsBounded(t *testing.T) {
	tab := NewTable(2, time.Second, hostNS)
	for pid := uint32(1); pid <= 3; pid++ {
		tab.Observe(ev(sensor.TypeExec, pid, 0, "x", 0))
	}
	if tab.Len() != 2 || tab.Dropped() != 1 {
		t.Errorf("len %d dropped %d, want 2 and 1", tab.Len(), tab.Dropped())
	}
}

func TestParseStat(t *testing.T) {
	comm, ppid, err := parseStat([]byte("42 (a) (b c) S 7 42 42 0 -1 4194560"))
	if err != nil || comm != "a) (b c" || ppid != 7 {
		t.Errorf("parseStat = %q %d %v", comm, ppid, err)
	}
	if _, _, err := parseStat([]byte("42 no-parens S 1")); err == nil {
		t.Error("malformed stat accepted")
	}
}

func TestSeedFromProc(t *testing.T) {
	tab := NewTable(1<<16, time.Second, hostNS)
	if err := tab.Seed("/proc", ""); err != nil {
		t.Fatal(err)
	}
	self, ok := tab.Get(uint32(os.Getpid()))
	if !ok {
		t.Fatal("the test process is not in the seeded table")
	}
	exe, _ := os.Executable()
	if self.PPID != uint32(os.Getppid()) || self.Path != exe {
		t.Errorf("seeded self = %+v, want ppid %d and path %s", self, os.Getppid(), exe)
	}
	if len(tab.AppendAncestry(nil, self.PID, nil)) == 0 {
		t.Error("the test process has no ancestry after seeding")
	}
}

// TestContainedIsTheKernels follows runc: its init process enters the
// container and sets it up (not contained), then execs the entrypoint
// (contained), which forks. The table takes each event's word for it, also
// for a process whose exec it never saw (runc's, outside a cgroup filter).
func TestContainedIsTheKernels(t *testing.T) {
	const containerNS = hostNS + 7
	tab := NewTable(100, time.Second, hostNS)

	setup := ev(sensor.TypeOpen, 50, 40, "runc:[2:INIT]", 0)
	setup.MntNS = containerNS
	tab.Observe(setup)
	if p, _ := tab.Get(50); p.Contained {
		t.Fatal("runc init setting the container up is taken for its workload")
	}
	entry := ev(sensor.TypeExec, 50, 40, "sh", 0)
	entry.MntNS, entry.Flags = containerNS, sensor.FlagWorkload
	tab.Observe(entry)
	if p, _ := tab.Get(50); !p.Contained {
		t.Fatal("the container's entrypoint is not contained")
	}
	fork := ev(sensor.TypeFork, 50, 40, "sh", 0)
	fork.MntNS, fork.Flags = containerNS, sensor.FlagWorkload
	fork.Fork.ChildPID = 51
	tab.Observe(fork)
	if p, _ := tab.Get(51); !p.Contained {
		t.Fatal("a child of the workload is not contained")
	}
}

func TestRefusedExecAndUnknownProcesses(t *testing.T) {
	tab := NewTable(100, time.Second, hostNS)
	e := ev(sensor.TypeExec, 60, 1, "app", 0)
	e.Exec.Path, e.MntNS = "/app", hostNS+1
	tab.Observe(e)
	refused := ev(sensor.TypeExec, 60, 1, "app", 0)
	refused.Exec.Path, refused.MntNS, refused.Flags = "/tmp/evil", hostNS+1, sensor.FlagDenied
	tab.Observe(refused)
	if p, _ := tab.Get(60); p.Path != "/app" {
		t.Errorf("a refused exec changed the process: %+v", p)
	}
	stranger := ev(sensor.TypeOpen, 70, 1, "sh", 0)
	stranger.MntNS, stranger.Flags = hostNS+1, sensor.FlagWorkload
	tab.Observe(stranger)
	if p, _ := tab.Get(70); !p.Contained {
		t.Error("a process first seen running a container's workload is not taken for it")
	}
}

// TestKeptAncestryFollowsEveryChange asks for one process's ancestry (the
// kept walk) after each kind of change the table takes, and compares it
// with a fresh walk: a rename, a reparenting, a move to another cgroup,
// containment, an exec of an ancestor, an ancestor exiting and expiring, a
// pid reused by a fork, and another pid of the same slot.
func TestKeptAncestryFollowsEveryChange(t *testing.T) {
	tab := NewTable(100, time.Second, hostNS)
	fresh := func(Process) bool { return true } // a within walks afresh
	check := func(step string, pid uint32) {
		t.Helper()
		kept := tab.AppendAncestry(nil, pid, nil)
		if walked := tab.AppendAncestry(nil, pid, fresh); !slices.EqualFunc(kept, walked, sameProcess) {
			t.Fatalf("%s: kept ancestry of %d = %+v, a fresh walk gives %+v", step, pid, kept, walked)
		}
	}
	fork := func(parent, ppid, child uint32, comm string, at time.Duration) {
		f := ev(sensor.TypeFork, parent, ppid, comm, at)
		f.Fork = sensor.Fork{ChildPID: child, ChildCgroupID: 1}
		tab.Observe(f)
	}
	fork(1, 0, 10, "init", 0)
	fork(10, 1, 20, "sh", 0)
	fork(20, 10, 30, "sh", 0)
	check("built", 30)
	check("unchanged", 30)
	tab.Observe(ev(sensor.TypeOpen, 20, 10, "renamed", 0))
	check("parent renamed", 30)
	tab.Observe(ev(sensor.TypeOpen, 20, 1, "renamed", 0))
	check("parent reparented", 30)
	moved := ev(sensor.TypeOpen, 20, 1, "renamed", 0)
	moved.CgroupID = 9
	tab.Observe(moved)
	check("parent moved to another cgroup", 30)
	moved.Flags = sensor.FlagWorkload
	tab.Observe(moved)
	check("parent contained", 30)
	x := ev(sensor.TypeExec, 20, 1, "renamed", 0) // only its executable and argv change
	x.Flags = sensor.FlagWorkload
	x.CgroupID = 9
	x.Exec = sensor.Exec{Path: "/usr/bin/python3", Argv: []string{"python3", "-c", "pass"}}
	tab.Observe(x)
	check("parent exec'd", 30)
	tab.Observe(ev(sensor.TypeExit, 20, 1, "renamed", 0))
	check("parent exited, lingering", 30)
	tab.Observe(ev(sensor.TypeOpen, 30, 20, "sh", 2*time.Second))
	check("parent expired", 30)
	fork(10, 1, 20, "sh", 2*time.Second)
	tab.Observe(ev(sensor.TypeOpen, 30, 20, "sh", 2*time.Second))
	check("parent's pid reused", 30)
	fork(10, 1, 30+ancestrySlots, "sh", 2*time.Second)
	check("another pid of the slot", 30+ancestrySlots)
	check("back to the first", 30)
}

func sameProcess(a, b Process) bool {
	return a.PID == b.PID && a.PPID == b.PPID && a.Comm == b.Comm && a.Path == b.Path &&
		slices.Equal(a.Argv, b.Argv) && a.CgroupID == b.CgroupID && a.Contained == b.Contained
}
