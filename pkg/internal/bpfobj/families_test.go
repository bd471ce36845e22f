package bpfobj

import (
	"slices"
	"testing"

	"github.com/cilium/ebpf"
)

// TestModReturnRewritesEveryLSMProgram checks that the fmod_ret family is
// the LSM family's programs, each turned into an fmod_ret program on the
// security_ function that calls its hook, none left behind.
func TestModReturnRewritesEveryLSMProgram(t *testing.T) {
	lsm, err := LoadLsm()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := loadModReturn()
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Programs) != len(lsm.Programs) {
		t.Fatalf("%d fmod_ret programs, want the LSM family's %d", len(spec.Programs), len(lsm.Programs))
	}
	var got []string
	for name, ps := range spec.Programs {
		if ps.Type != ebpf.Tracing || ps.AttachType != ebpf.AttachModifyReturn || ps.SectionName != "fmod_ret/"+ps.AttachTo {
			t.Errorf("%s: type %s, attach %s to %q (%s), want an fmod_ret program", name, ps.Type, ps.AttachType, ps.AttachTo, ps.SectionName)
		}
		got = append(got, ps.AttachTo)
	}
	slices.Sort(got)
	want := []string{"security_bprm_check", "security_capable", "security_file_open", "security_socket_connect"}
	if !slices.Equal(got, want) {
		t.Errorf("attached to %v, want %v", got, want)
	}
	if lsm.Programs[LsmProgLsmFileOpen].Type != ebpf.LSM {
		t.Error("loading the fmod_ret family changed the LSM family's spec")
	}
}
