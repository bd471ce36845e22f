package sensor

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// Hook is where the sensor sees one type of event on this kernel, and why
// not at the cheaper hook when it does not.
type Hook struct {
	Type   Type
	Attach string // the program's hook: fexit/do_sys_openat2, tp_btf/sys_exit; "" where none loaded
	Reason string // why the fallback serves it; empty at the trampoline hook
}

// trampolineHooks are the types seen at a kernel function's exit where
// the kernel has BPF trampolines, and at their fallback elsewhere: the
// system-call exit, the cap_capable tracepoint.
var trampolineHooks = []struct {
	typ              Type
	family, fallback bpfobj.Family
}{
	{TypeOpen, bpfobj.FamilyOpenFexit, bpfobj.FamilySysExit},
	{TypeConnect, bpfobj.FamilyConnectFexit, bpfobj.FamilySysExit},
	{TypeCapability, bpfobj.FamilyCapabilityFexit, bpfobj.FamilyCapability},
}

// sysExitOnlyWhy is the reason given when Config.SysExitOnly chose sys_exit.
const sysExitOnlyWhy = "fexit hooks turned off in the configuration"

// Hooks says where opens, connects and capability checks are seen, of the
// types traced: chosen at load, by whether the fexit programs loaded.
func (s *Sensor) Hooks() []Hook {
	var hooks []Hook
	for _, h := range trampolineHooks {
		if !s.types.Has(h.typ) {
			continue
		}
		if at := s.objs.Attached(h.family.Name); at != nil {
			hooks = append(hooks, Hook{Type: h.typ, Attach: strings.Join(at, ",")})
			continue
		}
		why := sysExitOnlyWhy
		if err := s.objs.Unavailable(h.family.Name); err != nil {
			why = err.Error()
		}
		if err := s.objs.Unavailable(h.fallback.Name); err != nil {
			why += "; " + err.Error()
		}
		hooks = append(hooks, Hook{Type: h.typ, Attach: strings.Join(s.objs.Attached(h.fallback.Name), ","), Reason: why})
	}
	return hooks
}

// ProbeHooks says where a sensor started now would see opens, connects
// and capability checks, by loading (not attaching) the fexit programs,
// and their fallback where those fail: for a report without a running
// agent.
func ProbeHooks() []Hook {
	hooks := make([]Hook, len(trampolineHooks))
	for i, h := range trampolineHooks {
		f, why := h.family, ""
		if err := bpfobj.Probe(f); err != nil {
			f, why = h.fallback, err.Error()
			if err := bpfobj.Probe(f); err != nil {
				why += "; " + err.Error()
			}
		}
		at, err := f.Sections()
		if err != nil {
			why = err.Error()
		}
		hooks[i] = Hook{Type: h.typ, Attach: strings.Join(at, ","), Reason: why}
	}
	return hooks
}

var descHook = prometheus.NewDesc("vigil_sensor_hook_info",
	"Where the sensor sees each type of event on this node (1 for the hook in use), and why not at a kernel function's exit when it does not.",
	[]string{"hook", "attach", "reason"}, nil)
