package sensor

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/test/testutil"
)

const waitTimeout = 10 * time.Second

// recorder keeps every event a sensor delivers, for tests to search.
type recorder struct {
	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

// startSensor loads the sensor scoped to cg and records its events. All
// programs are detached when the test ends, also when it fails.
func startSensor(t *testing.T, cfg Config, cg *testutil.Cgroup) (*Sensor, *recorder) {
	t.Helper()
	cfg.CgroupFilter = FilterInclude
	cfg.Cgroups = []uint64{cg.ID}
	cfg.HostMntNS = testutil.RuntimeMountNamespace(t)
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("start sensor: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sensor: %v", err)
		}
	})
	rec := &recorder{signal: make(chan struct{}, 1)}
	go func() {
		for ev := range Merged(s) {
			rec.mu.Lock()
			rec.events = append(rec.events, ev)
			rec.mu.Unlock()
			select {
			case rec.signal <- struct{}{}:
			default:
			}
		}
	}()
	return s, rec
}

// waitFor returns the first recorded event that match accepts.
func (r *recorder) waitFor(t *testing.T, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		for _, ev := range r.events {
			if match(ev) {
				r.mu.Unlock()
				return ev
			}
		}
		n := len(r.events)
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline:
			for _, ev := range r.all() {
				t.Logf("%+v", ev)
			}
			t.Fatalf("no %s among %d events after %v", what, n, waitTimeout)
		}
	}
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func defaultTestConfig(types ...Type) Config {
	cfg := DefaultConfig()
	cfg.Types = NewTypeSet(types...)
	return cfg
}

// runHelper runs this test binary as a helper inside cg and returns its pid.
func runHelper(t *testing.T, cg *testutil.Cgroup, mode string, args ...string) int {
	t.Helper()
	cmd := helperCommand(cg, mode, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s %v: %v\n%s", mode, args, err, out)
	}
	return cmd.Process.Pid
}

func helperCommand(cg *testutil.Cgroup, mode string, args ...string) *exec.Cmd {
	cmd := cg.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// copyFile copies src to dst with src's mode.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, _ := in.Stat()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func isExecOf(pid int) func(Event) bool {
	return func(ev Event) bool { return ev.Type == TypeExec && ev.PID == uint32(pid) }
}

func TestExecResolvesSymlinksAndRelativePaths(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	_, rec := startSensor(t, defaultTestConfig(TypeExec), cg)

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	sub := filepath.Join(dir, "sub")
	for _, d := range []string{bin, sub} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	truePath := realPath(t, "/bin/true") // /bin is itself a symlink on merged-usr systems
	copyFile(t, truePath, filepath.Join(bin, "mytrue"))
	if err := os.Symlink(truePath, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	t.Run("symlink", func(t *testing.T) {
		cmd := cg.Command(filepath.Join(dir, "link"), "via-link")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		ev := rec.waitFor(t, "exec through the symlink", isExecOf(cmd.Process.Pid))
		if ev.Exec.Path != truePath {
			t.Errorf("path = %q, want the symlink's target %q", ev.Exec.Path, truePath)
		}
		if ev.Exec.Filename != filepath.Join(dir, "link") {
			t.Errorf("filename = %q, want the name passed to execve", ev.Exec.Filename)
		}
		if len(ev.Exec.Argv) != 2 || ev.Exec.Argv[1] != "via-link" || ev.Exec.Argc != 2 {
			t.Errorf("argv = %q (argc %d), want [link via-link]", ev.Exec.Argv, ev.Exec.Argc)
		}
		var st unix.Stat_t
		if err := unix.Stat(truePath, &st); err != nil {
			t.Fatal(err)
		}
		if ev.Exec.Inode.Ino != st.Ino || uint64(unix.Mkdev(ev.Exec.Inode.Major(), ev.Exec.Inode.Minor())) != st.Dev {
			t.Errorf("inode = %+v, want ino %d dev %d", ev.Exec.Inode, st.Ino, st.Dev)
		}
		if ev.Flags&(FlagMemfd|FlagDeleted|FlagPathTruncated) != 0 {
			t.Errorf("flags = %b, want none of memfd, deleted, truncated", ev.Flags)
		}
	})

	t.Run("relative with dot-dot", func(t *testing.T) {
		cmd := cg.Command("../bin/mytrue")
		cmd.Dir = sub
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		ev := rec.waitFor(t, "exec through a relative path", isExecOf(cmd.Process.Pid))
		if want := realPath(t, filepath.Join(bin, "mytrue")); ev.Exec.Path != want {
			t.Errorf("path = %q, want %q", ev.Exec.Path, want)
		}
		if ev.Exec.Filename != "../bin/mytrue" {
			t.Errorf("filename = %q, want ../bin/mytrue", ev.Exec.Filename)
		}
	})

	t.Run("execveat empty path", func(t *testing.T) {
		pid := runHelper(t, cg, "execveat", filepath.Join(bin, "mytrue"))
		ev := rec.waitFor(t, "execveat(AT_EMPTY_PATH)", func(ev Event) bool {
			return ev.Type == TypeExec && ev.PID == uint32(pid) && strings.HasPrefix(ev.Exec.Filename, "/dev/fd/")
		})
		if want := realPath(t, filepath.Join(bin, "mytrue")); ev.Exec.Path != want {
			t.Errorf("path = %q, want %q", ev.Exec.Path, want)
		}
	})
}

func TestExecFlagsMemfdAndDeleted(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	_, rec := startSensor(t, defaultTestConfig(TypeExec), cg)
	truePath := realPath(t, "/bin/true")
	image, err := os.ReadFile(truePath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("memfd", func(t *testing.T) {
		fd, err := unix.MemfdCreate("payload", 0)
		if err != nil {
			t.Fatal(err)
		}
		memfd := os.NewFile(uintptr(fd), "memfd")
		defer memfd.Close()
		if _, err := memfd.Write(image); err != nil {
			t.Fatal(err)
		}
		cmd := cg.Command("/proc/self/fd/3")
		cmd.ExtraFiles = []*os.File{memfd}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		ev := rec.waitFor(t, "exec of a memfd", isExecOf(cmd.Process.Pid))
		if !ev.Flags.Has(FlagMemfd) {
			t.Errorf("flags = %b, want memfd", ev.Flags)
		}
		if !strings.HasPrefix(ev.Exec.Path, "/memfd:payload") {
			t.Errorf("path = %q, want /memfd:payload…", ev.Exec.Path)
		}
		if ev.Exec.Filename != "/proc/self/fd/3" {
			t.Errorf("filename = %q, want /proc/self/fd/3", ev.Exec.Filename)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gone")
		copyFile(t, truePath, path)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		cmd := cg.Command("/proc/self/fd/3")
		cmd.ExtraFiles = []*os.File{f}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		ev := rec.waitFor(t, "exec of a deleted file", isExecOf(cmd.Process.Pid))
		if !ev.Flags.Has(FlagDeleted) || ev.Flags.Has(FlagMemfd) {
			t.Errorf("flags = %b, want deleted and not memfd", ev.Flags)
		}
		if want := filepath.Join(realPath(t, filepath.Dir(path)), "gone"); ev.Exec.Path != want {
			t.Errorf("path = %q, want %q", ev.Exec.Path, want)
		}
	})
}

// TestEventsTellTheWorkloadFromTheRuntime follows runc's init: a process
// exec'd on the host that enters a mount namespace is the runtime setting a
// container up, until it execs there; from then on, it runs the workload.
func TestEventsTellTheWorkloadFromTheRuntime(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	_, rec := startSensor(t, defaultTestConfig(TypeExec, TypeOpen), cg)
	file := filepath.Join(realPath(t, t.TempDir()), "config")
	if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := runHelper(t, cg, "enter-then-exec", file)
	cat := realPath(t, "/bin/cat")
	opens := func(byCat bool) func(Event) bool {
		return func(ev Event) bool {
			return ev.Type == TypeOpen && ev.PID == uint32(pid) && ev.Open.Path == file && (ev.Comm == "cat") == byCat
		}
	}
	hostExec := rec.waitFor(t, "the helper's exec", isExecOf(pid))
	setup := rec.waitFor(t, "the open before the exec", opens(false))
	entry := rec.waitFor(t, "the exec of cat", func(ev Event) bool { return isExecOf(pid)(ev) && ev.Exec.Path == cat })
	work := rec.waitFor(t, "cat's open", opens(true))

	if hostExec.Flags.Has(FlagWorkload) {
		t.Error("an exec on the host is taken for a container's workload")
	}
	if setup.MntNS == hostExec.MntNS || setup.Flags.Has(FlagWorkload) {
		t.Errorf("the open after entering a namespace (mntns %d, host %d) is taken for the workload: %+v",
			setup.MntNS, hostExec.MntNS, setup)
	}
	for _, ev := range []Event{entry, work} {
		if !ev.Flags.Has(FlagWorkload) {
			t.Errorf("the %s after the exec in the namespace is not the workload's: %+v", ev.Type, ev)
		}
	}
}

func TestOpenResolvesPaths(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	_, rec := startSensor(t, defaultTestConfig(TypeOpen), cg)
	dir := realPath(t, t.TempDir())
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(dir, "b", "target")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("dirfd and dot-dot", func(t *testing.T) {
		pid := runHelper(t, cg, "openat", filepath.Join(dir, "a"), "../b/target")
		ev := rec.waitFor(t, "openat of ../b/target", func(ev Event) bool {
			return ev.Type == TypeOpen && ev.PID == uint32(pid) && ev.Open.Path == target
		})
		if ev.Open.Ret < 0 || !ev.Open.Flags.Read() || ev.Open.Flags.Write() {
			t.Errorf("ret %d flags %v, want a read-only open that succeeded", ev.Open.Ret, ev.Open.Flags.Names())
		}
		var st unix.Stat_t
		if err := unix.Stat(target, &st); err != nil {
			t.Fatal(err)
		}
		if ev.Open.Inode.Ino != st.Ino {
			t.Errorf("inode %d, want %d", ev.Open.Inode.Ino, st.Ino)
		}
		if ev.Flags.Has(FlagPathUnresolved) {
			t.Error("a successful open is flagged unresolved")
		}
	})

	t.Run("failed relative open", func(t *testing.T) {
		cmd := helperCommand(cg, "open-missing", "../a/missing")
		cmd.Dir = filepath.Join(dir, "b")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		want := filepath.Join(dir, "a", "missing")
		ev := rec.waitFor(t, "failed open", func(ev Event) bool {
			return ev.Type == TypeOpen && ev.PID == uint32(cmd.Process.Pid) && ev.Open.Path == want
		})
		if ev.Open.Ret != -int32(unix.ENOENT) || !ev.Flags.Has(FlagPathUnresolved) {
			t.Errorf("ret %d flags %b, want -ENOENT and unresolved", ev.Open.Ret, ev.Flags)
		}
	})

	t.Run("created or already there", func(t *testing.T) {
		d, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		// The same O_CREAT open twice: the first makes the file, the second
		// opens the file the first made.
		for i, want := range []bool{true, false} {
			cmd := helperCommand(cg, "create-in-fd3", "made")
			cmd.ExtraFiles = []*os.File{d}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			ev := rec.waitFor(t, "open of made", func(ev Event) bool {
				return ev.Type == TypeOpen && ev.PID == uint32(cmd.Process.Pid) && ev.Open.Path == filepath.Join(dir, "made")
			})
			if ev.Flags.Has(FlagCreated) != want {
				t.Errorf("open %d with O_CREAT: flags %b, want created %v", i+1, ev.Flags, want)
			}
		}
	})

	t.Run("path longer than the buffer", func(t *testing.T) {
		// Build the directories with openat: their full path exceeds PATH_MAX.
		component := strings.Repeat("d", 200)
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		depth := 24 // 24 × 201 bytes > VIGIL_PATH_MAX
		for range depth {
			if err := unix.Mkdirat(fd, component, 0o755); err != nil {
				t.Fatal(err)
			}
			next, err := unix.Openat(fd, component, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			unix.Close(fd)
			if err != nil {
				t.Fatal(err)
			}
			fd = next
		}
		deep := os.NewFile(uintptr(fd), "deep")
		defer deep.Close()
		cmd := helperCommand(cg, "create-in-fd3", "leaf")
		cmd.ExtraFiles = []*os.File{deep}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		ev := rec.waitFor(t, "open of the deep file", func(ev Event) bool {
			return ev.Type == TypeOpen && ev.PID == uint32(cmd.Process.Pid) && strings.HasSuffix(ev.Open.Path, "/leaf")
		})
		if !ev.Flags.Has(FlagPathTruncated) {
			t.Errorf("flags = %b, want truncated", ev.Flags)
		}
		if !ev.Open.Flags.Write() || !strings.HasSuffix(ev.Open.Path, component+"/"+component+"/leaf") {
			t.Errorf("path %q… flags %v, want the path's tail and a write", ev.Open.Path[:40], ev.Open.Flags.Names())
		}
		if len(ev.Open.Path) > 4096 || len(ev.Open.Path) < 4096-len(component)-1 {
			t.Errorf("truncated path is %d bytes, want the last components filling the 4096-byte buffer", len(ev.Open.Path))
		}
	})
}

func TestConnect(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	_, rec := startSensor(t, defaultTestConfig(TypeConnect), cg)

	for _, tc := range []struct{ network, listen string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			ln, err := net.Listen(tc.network, tc.listen)
			if err != nil {
				t.Skipf("no %s loopback here: %v", tc.network, err)
			}
			defer ln.Close()
			addr := ln.Addr().(*net.TCPAddr)
			pid := runHelper(t, cg, "connect", tc.network, addr.String())
			ev := rec.waitFor(t, "connect", func(ev Event) bool {
				return ev.Type == TypeConnect && ev.PID == uint32(pid) && ev.Connect.Port == uint16(addr.Port)
			})
			c := ev.Connect
			if c.Addr.String() != addr.IP.String() || c.Protocol.String() != "tcp" || c.SockType.String() != "stream" {
				t.Errorf("connect = %+v, want %s tcp stream", c, addr.IP)
			}
			// Go connects non-blocking: the call returns EINPROGRESS or 0.
			if c.Ret != 0 && c.Ret != -int32(unix.EINPROGRESS) {
				t.Errorf("ret = %d", c.Ret)
			}
		})
	}

	t.Run("unix", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		pid := runHelper(t, cg, "connect", "unix", path)
		ev := rec.waitFor(t, "unix connect", func(ev Event) bool {
			return ev.Type == TypeConnect && ev.PID == uint32(pid) && ev.Connect.Family.String() == "unix"
		})
		if ev.Connect.UnixPath != path || ev.Connect.Ret != 0 {
			t.Errorf("unix path %q ret %d, want %q and 0", ev.Connect.UnixPath, ev.Connect.Ret, path)
		}
	})
}

// The open and connect handlers share one sys_exit program: a type not
// asked for must stay in the kernel.
func TestSysExitDeliversOnlyTheTypesAskedFor(t *testing.T) {
	testutil.RequireRoot(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	missing := filepath.Join(t.TempDir(), "missing")
	helpers := map[Type][]string{TypeOpen: {"open-missing", missing}, TypeConnect: {"connect", "tcp4", ln.Addr().String()}}

	for _, tc := range []struct{ asked, other Type }{{TypeOpen, TypeConnect}, {TypeConnect, TypeOpen}} {
		t.Run(tc.asked.String(), func(t *testing.T) {
			cg := testutil.NewCgroup(t)
			s, rec := startSensor(t, defaultTestConfig(tc.asked), cg)
			// The other type's call first: once the asked one is seen, the
			// other's record would have been read before it.
			runHelper(t, cg, helpers[tc.other][0], helpers[tc.other][1:]...)
			pid := runHelper(t, cg, helpers[tc.asked][0], helpers[tc.asked][1:]...)
			rec.waitFor(t, tc.asked.String(), func(ev Event) bool { return ev.Type == tc.asked && ev.PID == uint32(pid) })
			for _, ev := range rec.all() {
				if ev.Type == tc.other {
					t.Errorf("%s event delivered though only %s was asked for: %+v", tc.other, tc.asked, ev)
				}
			}
			st, err := s.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if n := st.Delivered[tc.other] + st.Lost(tc.other); n != 0 {
				t.Errorf("%d %s events left the kernel", n, tc.other)
			}
		})
	}
}

// TestCapability checks that the capability hook reports a use and only
// uses: root's granted CAP_NET_RAW is reported; nobody's refused one is
// not, and neither are the kernel's noaudit CAP_SYS_ADMIN checks of every
// mmap, granted to root (an unjudged capability).
func TestCapability(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	s, rec := startSensor(t, defaultTestConfig(TypeCapability), cg)
	t.Logf("capability checks seen at %+v", s.Hooks())
	checkCapabilityUses(t, cg, rec)
}

// TestCapabilityFexitInVM runs TestCapabilityAtFexit in the test VM: its
// kernel (Debian's 6.1) has trampolines and no cap_capable tracepoint.
func TestCapabilityFexitInVM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RunInVM(t, ".", "^TestCapabilityAtFexit$", "TestCapabilityAtFexit")
}

// TestCapabilityAtFexit checks that capability checks are seen at
// fexit/cap_capable, the tracepoint's family left out, and that it
// reports uses and only uses, as TestCapability has the tracepoint do.
func TestCapabilityAtFexit(t *testing.T) {
	testutil.RequireVMGuest(t)
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	s, rec := startSensor(t, defaultTestConfig(TypeCapability), cg)
	if hooks := s.Hooks(); len(hooks) != 1 || hooks[0] != (Hook{Type: TypeCapability, Attach: "fexit/cap_capable"}) {
		t.Fatalf("hooks = %+v, want capability checks at fexit/cap_capable", hooks)
	}
	if at := s.Objects().Attached(bpfobj.FamilyCapability.Name); at != nil {
		t.Errorf("the cap_capable tracepoint's family is attached too: %v", at)
	}
	checkCapabilityUses(t, cg, rec)
}

// checkCapabilityUses has a helper in cg use CAP_NET_RAW as root and be
// refused it as nobody, and checks what rec got of it.
func checkCapabilityUses(t *testing.T, cg *testutil.Cgroup, rec *recorder) {
	t.Helper()
	root := runHelper(t, cg, "raw-socket")
	ev := rec.waitFor(t, "CAP_NET_RAW check", func(ev Event) bool {
		return ev.Type == TypeCapability && ev.PID == uint32(root) && ev.Capability.Name() == "CAP_NET_RAW"
	})
	if !ev.Capability.Granted() {
		t.Errorf("root's CAP_NET_RAW use reported as refused: %+v", ev.Capability)
	}

	nobody := runHelper(t, cg, "raw-socket-as-nobody")
	// The exit is written after every check the process made.
	rec.waitFor(t, "the exit of the process refused CAP_NET_RAW", func(ev Event) bool {
		return ev.Type == TypeExit && ev.PID == uint32(nobody)
	})
	for _, ev := range rec.all() {
		if ev.Type != TypeCapability {
			continue
		}
		if ev.PID == uint32(nobody) && ev.Capability.Name() == "CAP_NET_RAW" {
			t.Errorf("nobody's refused CAP_NET_RAW check was reported: %+v uid %d", ev.Capability, ev.UID)
		}
		if !CapabilityJudged(ev.Capability.Cap) || !ev.Capability.Granted() {
			t.Errorf("a check that is no use was reported: %s %+v (pid %d)", ev.Capability.Name(), ev.Capability, ev.PID)
		}
	}
}

func testLogger(t *testing.T) *zap.Logger { return testLoggerTB(t) }

func testLoggerTB(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

// TestHeaderDescribesTheTask checks the header every record carries: the
// parent, the credentials and the mount namespace of the task.
func TestHeaderDescribesTheTask(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	_, rec := startSensor(t, defaultTestConfig(TypeOpen), cg)
	// In /, which nobody may search: the open fails for want of the file.
	pid := runHelper(t, cg, "open-missing-as-nobody", "/vigil-sensor-test-missing")
	ev := rec.waitFor(t, "nobody's open", func(ev Event) bool {
		return ev.Type == TypeOpen && ev.PID == uint32(pid) && strings.HasSuffix(ev.Open.Path, "/vigil-sensor-test-missing")
	})
	mntns, err := procfs.MountNamespace(procfs.DefaultRoot, uint32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if ev.PPID != uint32(os.Getpid()) || ev.UID != 65534 || ev.EUID != 65534 || ev.GID != 65534 || ev.MntNS != mntns {
		t.Errorf("header: ppid %d uid %d euid %d gid %d mntns %d; want ppid %d, 65534 for the ids, mntns %d",
			ev.PPID, ev.UID, ev.EUID, ev.GID, ev.MntNS, os.Getpid(), mntns)
	}
}
