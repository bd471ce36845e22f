package bpfobj

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// Family is one BPF object: the programs of one hook family.
type Family struct {
	Name string
	spec func() (*ebpf.CollectionSpec, error)
	// optional: loading goes on without it when the kernel lacks its
	// hook (cap_capable is a tracepoint since Linux 6.x); Unavailable
	// says why.
	optional bool
	// replaces is the load-time switch of the handler this family stands
	// in for where it loads (a sys_exit handler): Load turns it off.
	replaces string
	// announces is a load-time switch of other families' handlers: Load
	// loads this family before the others of Programs (after exec and
	// process) and, once it is loaded, turns the switch on for them.
	announces string
	// switches are the load-time switches of the family's handlers: Load
	// leaves the family out when every one is off.
	switches []string
	// check are the calls the family's programs must see once attached
	// (fexitcheck.go): where one is missed, Load detaches the family and
	// leaves the handler it would replace on.
	check []checkCall
	// trampoline: its programs run on BPF trampolines (fexit, fmod_ret),
	// which some kernels refuse with EPERM whatever the memlock limit.
	trampoline bool
}

// The families. Exec and Process are loaded whatever else is: they keep
// the process table whole and record which tasks run a container's
// workload, which every decision in the kernel needs.
var (
	FamilyExec    = Family{Name: "exec", spec: LoadExec}
	FamilyProcess = Family{Name: "process", spec: LoadProcess}
	// FamilySysExit sees opens and connects, one program at sys_exit
	// serving both, as far as the trampoline families do not.
	FamilySysExit = Family{Name: "sys_exit", spec: LoadSysexit, switches: []string{SysexitVarTraceOpens, SysexitVarTraceConnects}}
	// FamilyOpenFexit and FamilyConnectFexit see opens and connects at
	// the exit of the kernel functions that do them, on kernels with BPF
	// trampolines, and stand in for sys_exit's handlers there: listed
	// before FamilySysExit, each that loads and sees its self-check's
	// calls turns its handler off.
	FamilyOpenFexit = Family{Name: "open-fexit", spec: LoadOpenfexit, optional: true, trampoline: true,
		replaces: SysexitVarTraceOpens, check: openChecks}
	FamilyConnectFexit = Family{Name: "connect-fexit", spec: LoadConnectfexit, optional: true, trampoline: true,
		replaces: SysexitVarTraceConnects, check: connectChecks}
	// FamilyOpenGuard kills for the opens of enforced containers that
	// succeeded while no fanotify listener judged them (bpf/open_guard.bpf.c),
	// and reports them: the open handlers loaded after it leave those to it.
	FamilyOpenGuard = Family{Name: "open-guard", spec: LoadOpenguard, optional: true, announces: RecordVarOpenGuarded}
	// FamilyCapabilityFexit sees capability checks at the exit of
	// cap_capable on kernels with BPF trampolines, those without the
	// cap_capable tracepoint too, and stands in for FamilyCapability
	// there (listed before it).
	FamilyCapabilityFexit = Family{Name: "capability-fexit", spec: LoadCapablefexit, optional: true, trampoline: true,
		replaces: SwitchTraceCapabilities}
	FamilyCapability = Family{Name: "capability", spec: LoadCapable, optional: true, switches: []string{SwitchTraceCapabilities}}
	// FamilyIoUring sees rings set up and requests submitted (the
	// io_uring tracepoints: none where the kernel has no io_uring).
	FamilyIoUring = Family{Name: "io_uring", spec: LoadIouring, optional: true}
	// FamilyConnectGuard holds the cgroup connect programs that refuse
	// what enforced profiles do not allow.
	FamilyConnectGuard = Family{Name: "connect-guard", spec: LoadGuard, optional: true}
	// FamilyUnixGuard holds the cgroup/connect_unix program (Linux 6.7+)
	// that refuses unix connects enforced profiles do not allow.
	FamilyUnixGuard = Family{Name: "unix-guard", spec: LoadUnixguard, optional: true}
	// FamilyLSM holds the BPF LSM programs that deny, before the action,
	// what enforced profiles do not allow.
	FamilyLSM = Family{Name: "lsm", spec: LoadLsm}
	// FamilyModReturn holds FamilyLSM's programs attached as fmod_ret to
	// the security_ functions that call those LSM hooks, for kernels that
	// run BPF trampolines but not BPF LSM (Azure Linux; Ubuntu, whose lsm=
	// leaves bpf out): they deny before the action alike.
	FamilyModReturn = Family{Name: "lsm-fmod_ret", spec: loadModReturn, trampoline: true}
)

// SwitchTraceCapabilities is the load-time switch of FamilyCapability:
// Programs turns it on where capabilities are traced, and
// FamilyCapabilityFexit turns it off where it loads, which leaves the
// tracepoint's family out (its one handler needs no switch of its own).
const SwitchTraceCapabilities = "trace_capabilities"

// securityFunctions are the kernel functions that call each LSM hook of
// FamilyLSM, for FamilyModReturn.
var securityFunctions = map[string]string{
	"bprm_check_security": "security_bprm_check",
	"file_open":           "security_file_open",
	"socket_connect":      "security_socket_connect",
	// Before the capability module decides: the program refuses only
	// what the kernel would grant (kernel_grants in bpf/lsm.bpf.c).
	"capable": "security_capable",
}

// loadModReturn is FamilyLSM's spec with each program turned into an
// fmod_ret program on its security_ function. An LSM program and an
// fmod_ret program have the same context (the hook's arguments and the
// return value so far) and the same meaning of a non-zero return: the
// call fails with it before the function runs.
func loadModReturn() (*ebpf.CollectionSpec, error) {
	spec, err := LoadLsm()
	if err != nil {
		return nil, err
	}
	for name, ps := range spec.Programs {
		hook, ok := strings.CutPrefix(ps.SectionName, "lsm/")
		fn, known := securityFunctions[hook]
		if !ok || !known {
			return nil, fmt.Errorf("LSM program %s (%s) has no security_ function to attach to as fmod_ret", name, ps.SectionName)
		}
		ps.Type, ps.AttachType, ps.AttachTo, ps.SectionName = ebpf.Tracing, ebpf.AttachModifyReturn, fn, "fmod_ret/"+fn
	}
	return spec, nil
}

// Sections returns where the family's programs attach (their ELF
// sections: tp_btf/sys_exit, fexit/do_sys_openat2), sorted.
func (f Family) Sections() ([]string, error) {
	spec, err := f.spec()
	if err != nil {
		return nil, fmt.Errorf("load %s spec: %w", f.Name, err)
	}
	var out []string
	for _, ps := range spec.Programs {
		out = append(out, ps.SectionName)
	}
	slices.Sort(out)
	return out, nil
}

// loadedFamily is a family's programs in the kernel and their links.
type loadedFamily struct {
	name     string
	coll     *ebpf.Collection
	links    []link.Link
	sections []string // where its programs attach (fexit/do_sys_openat2)
}

// loadFamily loads a family's object with the shared maps and load-time
// constants (those it declares), and attaches every program: tracing ones
// to their hook, cgroup ones to cgroupRoot. On error nothing stays attached.
func loadFamily(f Family, shared map[string]*ebpf.Map, constants map[string]any, cgroupRoot string, cache *btf.Cache) (_ *loadedFamily, err error) {
	spec, err := f.spec()
	if err != nil {
		return nil, fmt.Errorf("load %s spec: %w", f.Name, err)
	}
	for name, value := range constants {
		v, ok := spec.Variables[name]
		if !ok {
			continue
		}
		if err := v.Set(value); err != nil {
			return nil, fmt.Errorf("set %s.%s: %w", f.Name, name, err)
		}
	}
	replace := make(map[string]*ebpf.Map)
	for name, ms := range spec.Maps {
		if m, ok := shared[name]; ok {
			ms.MaxEntries = m.MaxEntries() // sized at load time
			replace[name] = m
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: replace, Cache: cache})
	if err != nil {
		return nil, loadError(f, err)
	}
	lf := &loadedFamily{name: f.Name, coll: coll}
	defer func() {
		if err != nil {
			lf.close()
		}
	}()
	for name, prog := range coll.Programs {
		l, err := attach(prog, spec.Programs[name], cgroupRoot)
		if err != nil {
			return nil, fmt.Errorf("attach %s/%s: %w", f.Name, name, err)
		}
		lf.links = append(lf.links, l)
		lf.sections = append(lf.sections, spec.Programs[name].SectionName)
	}
	slices.Sort(lf.sections)
	return lf, nil
}

func attach(prog *ebpf.Program, ps *ebpf.ProgramSpec, cgroupRoot string) (link.Link, error) {
	switch ps.Type {
	case ebpf.Tracing: // tp_btf, fexit, fmod_ret
		return link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ps.AttachType})
	case ebpf.LSM:
		return link.AttachLSM(link.LSMOptions{Program: prog})
	case ebpf.CGroupSockAddr:
		if cgroupRoot == "" {
			return nil, errors.New("no cgroup2 mount to attach to")
		}
		// Multi-attach: other programs on the root (a CNI's) keep running.
		return link.AttachCgroup(link.CgroupOptions{Path: cgroupRoot, Attach: ps.AttachType, Program: prog})
	}
	return nil, fmt.Errorf("program type %s is not attached by vigil", ps.Type)
}

func (lf *loadedFamily) close() error {
	var errs []error
	for _, l := range lf.links {
		errs = append(errs, l.Close())
	}
	lf.coll.Close()
	return errors.Join(errs...)
}
