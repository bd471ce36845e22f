package vm_test

import (
	"testing"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestLSMEnforcementInVM proves tier-1 enforcement: BPF LSM programs deny
// exec, open, connect and a capability with EPERM, scoped to a cgroup, on
// Debian's kernel booted with BPF LSM (this host's kernel cannot load them).
func TestLSMEnforcementInVM(t *testing.T) {
	t.Parallel()
	testutil.RunInVM(t, "./lsmproof", "", "TestDenyExec", "TestDenyOpen", "TestDenyConnect", "TestDenyCapable")
}
