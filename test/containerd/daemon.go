package containerdtest

import (
	"os"
	"testing"

	"github.com/containerd/containerd/v2/client"

	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// Daemon is a private containerd started by Start. Its methods take the test
// that uses them so that a failure stops that test with context.
type Daemon struct {
	*ctrd.Daemon
}

// Start starts a private containerd and waits until it answers. The daemon,
// every container left in it, and its directory are removed in t.Cleanup.
func Start(t testing.TB) *Daemon {
	t.Helper()
	RequireBinaries(t)
	// Not t.TempDir: socket paths must stay under the 108-byte sun_path limit
	// whatever the test's name.
	dir, err := os.MkdirTemp("", "vigil-ctrd-")
	if err != nil {
		t.Fatalf("containerd harness: temp dir: %v", err)
	}
	cd, err := ctrd.New(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("containerd harness: %v", err)
	}
	d := &Daemon{cd}
	t.Cleanup(func() {
		if err := d.Close(t.Logf); err != nil {
			t.Errorf("containerd harness: %v", err)
		}
	})
	d.mustStart(t)
	return d
}

// RequireBinaries fails the test, naming what to install, when a binary the
// harness needs is not on the PATH.
func RequireBinaries(t testing.TB) {
	t.Helper()
	if err := ctrd.CheckBinaries(); err != nil {
		t.Fatalf("containerd harness: %v: run `test/deps.sh test` as root", err)
	}
}

func (d *Daemon) mustStart(t testing.TB) {
	t.Helper()
	if err := d.Daemon.Start(); err != nil {
		t.Fatalf("containerd harness: %v\n--- containerd log (tail) ---\n%s", err, d.LogTail())
	}
}

// Stop stops containerd (SIGTERM, then SIGKILL after a bound). Containers keep
// running under their shims, as with a real containerd restart.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	if err := d.Daemon.Stop(); err != nil {
		t.Fatalf("containerd harness: %v", err)
	}
}

// Restart stops containerd and starts it again on the same root, state and
// socket; containers started before survive it.
func (d *Daemon) Restart(t testing.TB) {
	t.Helper()
	d.Stop(t)
	d.mustStart(t)
}

// Client returns a client of this daemon, shared by every caller and closed
// with the daemon. It survives Restart (gRPC reconnects).
func (d *Daemon) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := d.Daemon.Client()
	if err != nil {
		t.Fatalf("containerd harness: %v", err)
	}
	return c
}
