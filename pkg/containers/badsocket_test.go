package containers

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zapcore"

	ctrdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// Without containerd the resolver keeps attributing the host, counts
// container-like cgroups as unattributed, says why once in the log, and keeps
// retrying until a containerd appears at the socket path.
func TestNoSocketThenContainerdAppears(t *testing.T) {
	testutil.RequireRoot(t)
	socket := filepath.Join(t.TempDir(), "containerd.sock")
	rr := startResolver(t, socket)
	waitFor(t, "several connection attempts", func() bool { return counter(rr, rr.m.connectionErrors, connNoSocket) >= 3 })
	if rr.Connected() {
		t.Fatal("connected to a socket that does not exist")
	}
	if warns := rr.logs.FilterMessage("containerd unavailable: attributing to host only until it is back").
		FilterLevelExact(zapcore.WarnLevel).FilterField(stringField(keyReason, connNoSocket)).Len(); warns != 1 {
		t.Errorf("%d warnings for the missing socket, want exactly 1 (then quiet retries)", warns)
	}
	if a := lookup(t, rr, rr.cg.RootID()); a.Kind != Host {
		t.Errorf("root cgroup attributed %v, want host", a.Kind)
	}
	orphan := mkCgroup(t, rr, "/"+ctrdtest.DefaultNamespace+"/"+ctrdtest.RandomID())
	if a := lookup(t, rr, orphan); a.Kind != Unattributed || a.Reason != reasonUnavailable {
		t.Errorf("container-like cgroup attributed %+v, want unattributed/%s", a, reasonUnavailable)
	}
	if got := counter(rr, rr.m.unattributed, reasonUnavailable); got != 1 {
		t.Errorf("unattributed_total{reason=%s} = %v, want 1", reasonUnavailable, got)
	}

	d, bb, _ := imported(t)
	ctr := d.Run(t, ctrdtest.RunOptions{Image: bb, Args: sleepArgs})
	if err := os.Symlink(d.Address, socket); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, rr)
	if c := known(t, rr, cgroupIDOf(t, rr, containerPath(ctr))); c.ID != ctr.ID {
		t.Errorf("after connecting, resolved %s, want %s", c.ID, ctr.ID)
	}
}

func TestSocketThatIsNotContainerd(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()

	// Something listens, but speaks no gRPC: it hangs up at once.
	socket := filepath.Join(dir, "other.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("220 not containerd\r\n"))
			conn.Close()
		}
	}()
	rr := startResolver(t, socket)
	waitFor(t, "the resolver to reject the socket", func() bool { return counter(rr, rr.m.connectionErrors, connNotContainerd) >= 2 })

	// A regular file where the socket should be.
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rf := startResolver(t, file)
	waitFor(t, "the resolver to reject the file", func() bool { return counter(rf, rf.m.connectionErrors, connNotContainerd) >= 2 })

	// A socket nobody listens on any more (a containerd that died).
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	rs := startResolver(t, stale)
	waitFor(t, "the resolver to find the socket dead", func() bool { return counter(rs, rs.m.connectionErrors, connUnreachable) >= 2 })

	for _, r := range []*running{rr, rf, rs} {
		if r.Connected() {
			t.Errorf("connected to %s", r.cfg.Socket)
		}
		if a := lookup(t, r, r.cg.RootID()); a.Kind != Host {
			t.Errorf("%s: root cgroup attributed %v, want host", r.cfg.Socket, a.Kind)
		}
	}
}

func stringField(k, v string) zapcore.Field {
	return zapcore.Field{Key: k, Type: zapcore.StringType, String: v}
}
