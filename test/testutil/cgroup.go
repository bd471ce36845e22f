package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/procfs"
)

// Cgroup is a cgroup2 directory of the test's own, so that what a test
// traces, filters or denies is scoped to the processes it starts there.
type Cgroup struct {
	Path string
	ID   uint64
	dir  *os.File
}

// NewCgroup creates a fresh cgroup under the host's cgroup2 mount. Cleanup
// kills whatever still runs in it and removes it.
func NewCgroup(tb testing.TB) *Cgroup {
	tb.Helper()
	root, err := cgroup.Mountpoint(procfs.DefaultRoot)
	if err != nil {
		tb.Fatalf("find cgroup2: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	path := filepath.Join(root, "vigil-test-"+hex.EncodeToString(b[:]))
	if err := os.Mkdir(path, 0o755); err != nil {
		tb.Fatalf("create test cgroup: %v", err)
	}
	cg := &Cgroup{Path: path}
	tb.Cleanup(cg.remove)
	if cg.ID, err = cgroup.ID(path); err != nil {
		tb.Fatal(err)
	}
	if cg.dir, err = os.Open(path); err != nil {
		tb.Fatalf("open test cgroup: %v", err)
	}
	return cg
}

// Command is exec.Command with the child started inside the cgroup, so its
// very first instruction already runs there.
func (c *Cgroup) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(c.dir.Fd())}
	return cmd
}

// remove kills the cgroup's processes and removes it, retrying while they die.
func (c *Cgroup) remove() {
	if c.dir != nil {
		c.dir.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.kill()
		err := os.Remove(c.Path)
		if err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cgroup) kill() {
	if err := os.WriteFile(filepath.Join(c.Path, "cgroup.kill"), []byte("1"), 0); err == nil {
		return
	}
	b, _ := os.ReadFile(filepath.Join(c.Path, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// NamespaceCgroup creates the cgroup containerd puts a namespace's
// containers under (/<namespace>/<id>), so a sensor can be scoped to it
// before any container exists, and returns its id. It is removed after
// everything in it.
func NamespaceCgroup(tb testing.TB, ns string) uint64 {
	tb.Helper()
	root, err := cgroup.Mountpoint(procfs.DefaultRoot)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(root, ns)
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	id, err := cgroup.ID(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
