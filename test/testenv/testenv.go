// Package testenv says how vigil's tests treat their environment: which runs
// opt into the tests that need root, and what a missing installed dependency
// means. It imports nothing of vigil's, so every test package, test/vm's
// among them, can use it.
package testenv

import (
	"os"
	"testing"
)

// RootTestsEnv opts a run into the tests that need root. `make test` sets it.
const RootTestsEnv = "VIGIL_ROOT_TESTS"

// RequireInstalled handles a test's dependency on something installed from
// Debian's packages (a PostgreSQL server, GNU patch) that is missing (err is
// why). A developer's plain `go test ./...` skips the test; the full run
// (`make test`, which sets VIGIL_ROOT_TESTS after installing the test
// packages) fails it, so a missing install step can never pass unseen.
func RequireInstalled(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv(RootTestsEnv) == "" {
		tb.Skipf("%s is not installed (test/deps.sh test installs it): %v", what, err)
	}
	tb.Fatalf("%s is not installed, although %s is set (test/deps.sh test installs it): %v", what, RootTestsEnv, err)
}
