// Package testutil holds helpers shared by vigil's tests.
package testutil

import (
	"os"
	"testing"
)

// RootTestsEnv opts a run into the tests that need root. `make test` sets it.
const RootTestsEnv = "VIGIL_ROOT_TESTS"

// RequireRoot makes root-only tests opt-in and then strict: without
// VIGIL_ROOT_TESTS the test is skipped (a developer's plain `go test`); with it,
// a missing root is a failure, so a root CI job can never skip these silently.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Getenv(RootTestsEnv) == "" {
		tb.Skipf("root-only test: set %s=1 and run as root (make test does)", RootTestsEnv)
	}
	if os.Geteuid() != 0 {
		tb.Fatalf("%s is set but the test is not running as root", RootTestsEnv)
	}
}
