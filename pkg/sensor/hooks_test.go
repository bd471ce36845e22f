package sensor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestHooksFallBackToSysExit: where the kernel refuses the fexit programs
// (this host: EPERM for every trampoline program), opens and connects are
// seen at sys_exit, and Hooks says why; SysExitOnly chooses sys_exit
// anywhere.
func TestHooksFallBackToSysExit(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	s, rec := startSensor(t, defaultTestConfig(TypeOpen, TypeConnect), cg)
	for _, h := range s.Hooks() {
		probe := bpfobj.Probe(familyOf(h.Type))
		switch {
		case probe == nil && h.Attach != fexitAttach[h.Type]:
			t.Errorf("%s hook = %+v; the fexit programs load on this kernel: want %s", h.Type, h, fexitAttach[h.Type])
		case probe != nil && (h.Attach != "tp_btf/sys_exit" || !strings.Contains(h.Reason, "load "+familyOf(h.Type).Name+" programs")):
			t.Errorf("%s hook = %+v; the fexit programs do not load (%v): want tp_btf/sys_exit and why", h.Type, h, probe)
		}
		if probe != nil && errors.Is(probe, unix.EPERM) && !strings.Contains(h.Reason, "refuses BPF trampoline programs") {
			t.Errorf("%s hook reason %q does not say the kernel refuses trampolines", h.Type, h.Reason)
		}
		t.Logf("%s: %s (%s)", h.Type, h.Attach, h.Reason)
	}
	if len(s.Hooks()) != 2 {
		t.Errorf("hooks = %+v, want open and connect", s.Hooks())
	}
	pid := runHelper(t, cg, "open-missing", filepath.Join(t.TempDir(), "missing-file"))
	rec.waitFor(t, "the helper's failed open", func(ev Event) bool {
		return ev.Type == TypeOpen && ev.PID == uint32(pid) && strings.HasSuffix(ev.Open.Path, "/missing-file")
	})

	cfg := defaultTestConfig(TypeOpen)
	cfg.SysExitOnly = true
	forced, _ := startSensor(t, cfg, cg)
	if got := forced.Hooks(); len(got) != 1 || got[0] != (Hook{Type: TypeOpen, Attach: "tp_btf/sys_exit", Reason: sysExitOnlyWhy}) {
		t.Errorf("hooks with SysExitOnly = %+v, want opens at tp_btf/sys_exit, turned off", got)
	}
	if at := forced.Objects().Attached(bpfobj.FamilyOpenFexit.Name); at != nil {
		t.Errorf("SysExitOnly attached %v", at)
	}
}

var fexitAttach = map[Type]string{TypeOpen: "fexit/do_sys_openat2", TypeConnect: "fexit/__sys_connect"}

func familyOf(t Type) bpfobj.Family {
	for _, h := range trampolineHooks {
		if h.typ == t {
			return h.family
		}
	}
	panic(fmt.Sprintf("no trampoline hook for %s", t))
}

// TestFexitHooksInVM runs TestFexitMatchesSysExit in the test VM, on
// Debian's 6.1 kernel, which runs fexit programs: this host's does not.
func TestFexitHooksInVM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RunInVM(t, ".", "^TestFexitMatchesSysExit$", "TestFexitMatchesSysExit")
}

// TestFexitMatchesSysExit loads two sensors on one test cgroup, one with
// opens and connects at fexit and one at sys_exit, has a helper there
// open and connect in every way the hooks tell apart, and checks that both
// decode the same events for it.
func TestFexitMatchesSysExit(t *testing.T) {
	testutil.RequireVMGuest(t)
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	fexit, fexitRec := startSensor(t, defaultTestConfig(TypeOpen, TypeConnect), cg)
	cfg := defaultTestConfig(TypeOpen, TypeConnect)
	cfg.SysExitOnly = true
	sysExit, sysExitRec := startSensor(t, cfg, cg)
	for s, want := range map[*Sensor]map[Type]string{fexit: fexitAttach, sysExit: {TypeOpen: "tp_btf/sys_exit", TypeConnect: "tp_btf/sys_exit"}} {
		for _, h := range s.Hooks() {
			if h.Attach != want[h.Type] {
				t.Fatalf("%s hook = %+v, want %s", h.Type, h, want[h.Type])
			}
		}
	}
	if fexit.Objects().Attached(bpfobj.FamilySysExit.Name) != nil {
		t.Error("the sys_exit program is attached though fexit serves opens and connects")
	}

	dir := realPath(t, t.TempDir())
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := uint32(runHelper(t, cg, "open-variety", dir))
	helpers := func(ev Event) bool { return ev.PID == pid && (ev.Type == TypeOpen || ev.Type == TypeConnect) }

	want := []struct {
		what  string
		match func(Event) bool
	}{
		{"open(2) of a file", opened(dir+"/file", unix.O_RDONLY, 0, false)},
		{"a failed open, ENOENT", opened(dir+"/missing", unix.O_RDONLY, -int32(unix.ENOENT), false)},
		{"an O_CREAT openat", opened(dir+"/created", unix.O_CREAT|unix.O_WRONLY|unix.O_EXCL, 0, true)},
		{"an openat relative to a dirfd", opened(dir+"/file", unix.O_RDWR, 0, false)},
		{"a failed openat relative to a dirfd", opened(dir+"/missing-rel", unix.O_RDONLY, -int32(unix.ENOENT), false)},
		{"creat(2)", opened(dir+"/creat", unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0, true)},
		{"openat2(2)", opened(dir+"/file", unix.O_RDONLY|unix.O_CLOEXEC, 0, false)},
		{"an O_PATH open", opened(dir+"/file", unix.O_PATH, 0, false)},
		{"a tcp connect", func(ev Event) bool {
			return ev.Type == TypeConnect && ev.Connect.Addr.String() == "127.0.0.1" && (ev.Connect.Ret == 0 || ev.Connect.Ret == -int32(unix.EINPROGRESS))
		}},
		{"a unix connect to no socket", func(ev Event) bool {
			return ev.Type == TypeConnect && ev.Connect.UnixPath == dir+"/nosock" && ev.Connect.Ret == -int32(unix.ENOENT)
		}},
	}
	for _, w := range want {
		fexitRec.waitFor(t, w.what+" at fexit", func(ev Event) bool { return helpers(ev) && w.match(ev) })
	}
	got, ref := settled(t, fexitRec, sysExitRec, helpers)
	if !slices.Equal(got, ref) {
		t.Errorf("fexit and sys_exit decode different events for the same calls:\nfexit:\n  %s\nsys_exit:\n  %s",
			strings.Join(got, "\n  "), strings.Join(ref, "\n  "))
	}
	t.Logf("%d events, the same at fexit and at sys_exit:\n  %s", len(got), strings.Join(got, "\n  "))
}

// opened matches an open of path with flags, its result (0: any
// descriptor) and whether it created the file.
func opened(path string, flags int, ret int32, created bool) func(Event) bool {
	return func(ev Event) bool {
		return ev.Type == TypeOpen && ev.Open.Path == path && int(ev.Open.Flags) == flags &&
			(ret == 0 && ev.Open.Ret >= 0 || ret != 0 && ev.Open.Ret == ret) &&
			ev.Flags.Has(FlagCreated) == created && ev.Flags.Has(FlagPathUnresolved) == (ret < 0)
	}
}

// settled waits until two recorders hold the same number of the events
// match accepts, for a while, and returns them as sorted lines without
// their times: the order between a process's threads may differ from one
// ring to the other.
func settled(t *testing.T, a, b *recorder, match func(Event) bool) ([]string, []string) {
	t.Helper()
	lines := func(r *recorder) []string {
		var out []string
		for _, ev := range r.all() {
			if match(ev) {
				ev.Time = time.Time{}
				out = append(out, fmt.Sprintf("%+v", ev))
			}
		}
		slices.Sort(out)
		return out
	}
	deadline := time.Now().Add(waitTimeout)
	stable := 0
	for {
		x, y := lines(a), lines(b)
		if len(x) == len(y) {
			stable++
		} else {
			stable = 0
		}
		if stable == 5 || time.Now().After(deadline) {
			return x, y
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openVariety opens and connects in every way the open and connect hooks
// tell apart, in dir, and checks each result.
func openVariety(dir string) error {
	closeOK := func(fd int, err error) error {
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
	want := func(what string, err, want error) error {
		if !errors.Is(err, want) {
			return fmt.Errorf("%s: got %v, want %v", what, err, want)
		}
		return nil
	}
	path := func(name string) *byte {
		p, _ := unix.BytePtrFromString(filepath.Join(dir, name))
		return p
	}
	rawOpen := func(nr uintptr, name string, a1 uintptr) (int, error) {
		fd, _, errno := unix.Syscall(nr, uintptr(unsafe.Pointer(path(name))), a1, 0o644)
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	_, missing := unix.Open(filepath.Join(dir, "missing"), unix.O_RDONLY, 0)
	_, missingRel := unix.Openat(dirfd, "missing-rel", unix.O_RDONLY, 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	_, nosock := net.Dial("unix", filepath.Join(dir, "nosock"))
	return errors.Join(
		closeOK(rawOpen(unix.SYS_OPEN, "file", unix.O_RDONLY)),
		want("open missing", missing, unix.ENOENT),
		closeOK(unix.Openat(unix.AT_FDCWD, filepath.Join(dir, "created"), unix.O_CREAT|unix.O_WRONLY|unix.O_EXCL, 0o644)),
		closeOK(unix.Openat(dirfd, "file", unix.O_RDWR, 0)),
		want("openat missing", missingRel, unix.ENOENT),
		closeOK(rawOpen(unix.SYS_CREAT, "creat", 0o644)),
		closeOK(unix.Openat2(dirfd, "file", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH})),
		closeOK(unix.Openat(dirfd, "file", unix.O_PATH, 0)),
		closeDial(net.Dial("tcp", l.Addr().String())),
		want("connect to no socket", nosock, unix.ENOENT),
	)
}

func closeDial(c net.Conn, err error) error {
	if err != nil {
		return err
	}
	return c.Close()
}
