// Command vigilctl is the operator's tool for vigil: tail and query alerts,
// list nodes and their containers' posture, review, diff and promote
// profiles, list and verify the audit trail, and make certificates for a
// test setup.
//
// Connection settings come from flags, then VIGILCTL_* environment
// variables, then the config file (~/.config/vigil/vigilctl.yaml, or
// --config / VIGILCTL_CONFIG), whose keys are the flag names:
//
//	server: collector.example.com:7443
//	ca: /etc/vigil/certs/ca.pem
//	cert: /home/me/.config/vigil/certs/admin.pem
//	key: /home/me/.config/vigil/certs/admin-key.pem
package main

import (
	"fmt"
	"os"

	"github.com/vigil-dev/vigil/pkg/cliout"
)

func main() {
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vigilctl:", cliout.EscapeLines(err.Error()))
		os.Exit(1)
	}
}
