package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// asAgentEnv makes the test binary run as vigil-agent itself (main with its
// arguments), so that a test can run the command as another user.
const asAgentEnv = "VIGIL_TEST_AS_AGENT"

func TestMain(m *testing.M) {
	if os.Getenv(asAgentEnv) != "" {
		main()
		os.Exit(0)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		fmt.Fprintln(os.Stderr, "bash is needed by the trace test")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
