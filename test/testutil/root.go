// Package testutil holds helpers shared by vigil's tests.
package testutil

import (
	"os"
	"testing"

	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/test/testenv"
)

// RequireRoot makes root-only tests opt-in and then strict: without
// VIGIL_ROOT_TESTS the test is skipped (a developer's plain `go test`); with it,
// a missing root is a failure, so a root CI job can never skip these silently.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Getenv(testenv.RootTestsEnv) == "" {
		tb.Skipf("root-only test: set %s=1 and run as root (make test does)", testenv.RootTestsEnv)
	}
	if os.Geteuid() != 0 {
		tb.Fatalf("%s is set but the test is not running as root", testenv.RootTestsEnv)
	}
}

// RuntimeMountNamespace is the test process's own mount namespace. Tests
// that load the sensor play the container runtime themselves (they start
// the processes that enter containers), so their namespace is the one the
// kernel must take for the runtime's; it is the node's initial one except
// where the tests run in a root of their own (CI's fresh root).
func RuntimeMountNamespace(tb testing.TB) uint32 {
	tb.Helper()
	ns, err := procfs.MountNamespace(procfs.DefaultRoot, uint32(os.Getpid()))
	if err != nil {
		tb.Fatalf("own mount namespace: %v", err)
	}
	return ns
}
