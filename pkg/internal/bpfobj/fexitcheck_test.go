package bpfobj

import (
	"slices"
	"testing"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestMissed: the verdict names each call made that no program counted,
// and only those.
func TestMissed(t *testing.T) {
	var seen [RecordSyscallNrNR_OTHER]uint32
	seen[RecordSyscallNrNR_OPEN] = 1
	seen[RecordSyscallNrNR_OPENAT] = 3
	seen[RecordSyscallNrNR_CREAT] = 1
	if err := missed("fexit/do_sys_openat2", slices.Delete(slices.Clone(openChecks), 2, 3), seen); err != nil {
		t.Errorf("every call made was seen (openat2 not made: ENOSYS): %v", err)
	}
	err := missed("fexit/do_sys_openat2", openChecks, seen)
	if err == nil || err.Error() != "fexit/do_sys_openat2 did not see openat2: inlined?" {
		t.Errorf("openat2 made, not seen: %v", err)
	}
	err = missed("fexit/__sys_connect", connectChecks, [RecordSyscallNrNR_OTHER]uint32{})
	if err == nil || err.Error() != "fexit/__sys_connect did not see connect: inlined?" {
		t.Errorf("connect made, not seen: %v", err)
	}
}

// TestSelfCheckInVM runs TestSelfCheck in the test VM, on Debian's 6.1
// kernel, which runs fexit programs: this host's does not.
func TestSelfCheckInVM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RunInVM(t, ".", "^TestSelfCheck$", "TestSelfCheck")
}

// TestSelfCheck: on a kernel that runs the fexit programs, every check call
// reaches them and they serve opens and connects; a family one of whose
// check calls bypasses the function (a kernel that inlined it, simulated
// by a call that never goes there) is detached, says why, and leaves
// opens at sys_exit.
func TestSelfCheck(t *testing.T) {
	testutil.RequireVMGuest(t)
	testutil.RequireRoot(t)
	p := Programs{Constants: map[string]any{SysexitVarTraceOpens: true, SysexitVarTraceConnects: true},
		MapSizes: map[string]uint32{RecordMapEvents: 1 << 16, RecordMapJudgedEvents: 1 << 16}}

	p.Families = []Family{FamilyOpenFexit, FamilyConnectFexit, FamilySysExit}
	o, err := Load(p, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Family{FamilyOpenFexit, FamilyConnectFexit} {
		if err := o.Unavailable(f.Name); err != nil || o.Attached(f.Name) == nil {
			t.Errorf("%s: unavailable: %v, attached: %v", f.Name, err, o.Attached(f.Name))
		}
	}
	if at := o.Attached(FamilySysExit.Name); at != nil {
		t.Errorf("sys_exit attached (%v) though fexit passed its self-check for opens and connects", at)
	}
	o.Close()

	inlined := FamilyOpenFexit
	inlined.check = append(slices.Clone(openChecks), checkCall{"getpid", RecordSyscallNrNR_CONNECT, func() error {
		unix.Getpid()
		return nil
	}})
	p.Families = []Family{inlined, FamilyConnectFexit, FamilySysExit}
	o, err = Load(p, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	why := o.Unavailable(inlined.Name)
	if why == nil || why.Error() != "self-check: fexit/do_sys_openat2 did not see getpid: inlined?" {
		t.Errorf("open-fexit with a missed call: unavailable: %v", why)
	}
	if at := o.Attached(inlined.Name); at != nil {
		t.Errorf("open-fexit still attached at %v after its self-check failed", at)
	}
	if at := o.Attached(FamilySysExit.Name); !slices.Equal(at, []string{"tp_btf/sys_exit"}) {
		t.Errorf("sys_exit attached at %v, want tp_btf/sys_exit for opens", at)
	}
	if o.Attached(FamilyConnectFexit.Name) == nil {
		t.Errorf("connect-fexit detached though its own check passed: %v", o.Unavailable(FamilyConnectFexit.Name))
	}
	t.Logf("fallback: %v", why)
}
