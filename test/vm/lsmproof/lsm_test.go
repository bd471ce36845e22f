package lsmproof

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/test/testutil"
)

// outside starts a command in the test's own cgroup, out of scope.
func outside(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

// guestOnly runs a test only inside the test VM: this host's kernel cannot
// load BPF LSM programs.
func guestOnly(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireVMGuest(t)
}

// proof is one hook's case: an action the program must deny in scope and
// allow out of scope, and one it must allow in scope.
type proof struct {
	prog    string
	hook    denyDenyHook
	vars    map[string]any
	denied  func(start starter) error
	allowed func(start starter) error
}

// prove loads and attaches one LSM program scoped to a fresh cgroup and
// checks that it denies exactly what it should, where it should, and nothing
// once detached.
func prove(t *testing.T, p proof) {
	t.Helper()
	cg := testutil.NewCgroup(t)
	inScope := starter(cg.Command)

	coll := loadOne(t, p.prog, p.vars)
	if err := coll.Maps[denyMapScopedCgroups].Put(cg.ID, uint8(1)); err != nil {
		t.Fatalf("scope the test cgroup: %v", err)
	}
	l, err := link.AttachLSM(link.LSMOptions{Program: coll.Programs[p.prog]})
	if err != nil {
		t.Fatalf("attach %s: %v", p.prog, err)
	}
	t.Cleanup(func() { l.Close() })

	if err := p.denied(inScope); !errors.Is(err, unix.EPERM) {
		t.Fatalf("in scope: want EPERM, got %v", err)
	}
	n := denialCount(t, coll, p.hook)
	if n == 0 {
		t.Fatal("EPERM in scope, but the program counted no denial")
	}
	if err := p.allowed(inScope); err != nil {
		t.Fatalf("in scope, an action the program does not deny: %v", err)
	}
	if err := p.denied(outside); err != nil {
		t.Fatalf("out of scope: want success, got %v", err)
	}
	if m := denialCount(t, coll, p.hook); m != n {
		t.Fatalf("denials went from %d to %d on actions the program must allow", n, m)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if err := p.denied(inScope); err != nil {
		t.Fatalf("in scope after detaching: want success, got %v", err)
	}
}

// loadOne loads the object with only prog, its load-time variables set.
func loadOne(t *testing.T, prog string, vars map[string]any) *ebpf.Collection {
	t.Helper()
	spec, err := loadDeny()
	if err != nil {
		t.Fatal(err)
	}
	for name := range spec.Programs {
		if name != prog {
			delete(spec.Programs, name)
		}
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatalf("load %s: %v", prog, err)
	}
	t.Cleanup(coll.Close)
	return coll
}

func denialCount(t *testing.T, coll *ebpf.Collection, hook denyDenyHook) uint64 {
	t.Helper()
	var n uint64
	if err := coll.Maps[denyMapDenials].Lookup(uint32(hook), &n); err != nil {
		t.Fatalf("read denials: %v", err)
	}
	return n
}

// inode returns a file's device, as the kernel's dev_t, and inode number.
func inode(t *testing.T, path string) (dev, ino uint64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev)), st.Ino
}

func TestDenyExec(t *testing.T) {
	guestOnly(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the test binary is the denied executable: same content, its
	// own inode.
	denied := filepath.Join(t.TempDir(), "denied")
	copyFile(t, self, denied, 0o755)
	dev, ino := inode(t, denied)
	prove(t, proof{
		prog: denyProgDenyExec,
		hook: denyDenyHookDENY_EXEC,
		vars: map[string]any{denyVarExecDev: dev, denyVarExecIno: ino},
		denied: func(start starter) error {
			return runHelper(start, denied, "noop")
		},
		allowed: func(start starter) error { return inHelper(start, "noop") },
	})
}

func TestDenyOpen(t *testing.T) {
	guestOnly(t)
	dir := t.TempDir()
	denied, other := filepath.Join(dir, "denied"), filepath.Join(dir, "other")
	for _, f := range []string{denied, other} {
		if err := os.WriteFile(f, []byte("secret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dev, ino := inode(t, denied)
	prove(t, proof{
		prog:    denyProgDenyOpen,
		hook:    denyDenyHookDENY_OPEN,
		vars:    map[string]any{denyVarOpenDev: dev, denyVarOpenIno: ino},
		denied:  func(start starter) error { return inHelper(start, "open", denied) },
		allowed: func(start starter) error { return inHelper(start, "open", other) },
	})
}

func TestDenyConnect(t *testing.T) {
	guestOnly(t)
	denied, other := testutil.ListenLoopback(t).String(), testutil.ListenLoopback(t).String()
	port, err := strconv.ParseUint(mustPort(t, denied), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	prove(t, proof{
		prog:    denyProgDenyConnect,
		hook:    denyDenyHookDENY_CONNECT,
		vars:    map[string]any{denyVarConnectPort: uint16(port)},
		denied:  func(start starter) error { return inHelper(start, "connect", denied) },
		allowed: func(start starter) error { return inHelper(start, "connect", other) },
	})
}

func TestDenyCapable(t *testing.T) {
	guestOnly(t)
	file := filepath.Join(t.TempDir(), "owned")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	prove(t, proof{
		prog:    denyProgDenyCapable,
		hook:    denyDenyHookDENY_CAPABLE,
		vars:    map[string]any{denyVarDeniedCap: int32(unix.CAP_NET_RAW)},
		denied:  func(start starter) error { return inHelper(start, "rawsocket") },
		allowed: func(start starter) error { return inHelper(start, "chown", file) },
	})
}

func mustPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
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
