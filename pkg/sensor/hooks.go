package sensor

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// family is one BPF object: the programs of one hook family and the event
// types they write.
type family struct {
	name  string
	types []Type
	spec  func() (*ebpf.CollectionSpec, error)
	// optional: the sensor runs without it when the kernel lacks its hook
	// (cap_capable is a tracepoint since Linux 6.x); Unavailable says why.
	optional bool
	// always: loaded whatever the types asked for. Exec and process keep
	// the process table whole and record which tasks run a container's
	// workload, which every decision in the kernel needs.
	always bool
}

// guardFamily holds the cgroup connect programs that enforce profiles'
// network allowlists; Config.GuardConnect loads it.
var guardFamily = family{name: "connect-guard", spec: loadGuard, optional: true}

// lsmFamily holds the BPF LSM programs that deny what enforced profiles do
// not allow (tier 1); Config.LSM loads it.
var lsmFamily = family{name: "lsm", spec: loadLsm}

// families lists every hook family.
var families = []family{
	{name: "exec", types: []Type{TypeExec}, spec: loadExec, always: true},
	{name: "process", types: []Type{TypeFork, TypeExit}, spec: loadProcess, always: true},
	// One program at sys_exit serves both types: see bpf/sys_exit.bpf.c.
	{name: "sys_exit", types: []Type{TypeOpen, TypeConnect}, spec: loadSysexit},
	{name: "capability", types: []Type{TypeCapability}, spec: loadCapable, optional: true},
}

// wanted reports whether any of the family's types is selected.
func (f family) wanted(types TypeSet) bool {
	for _, t := range f.types {
		if types.Has(t) {
			return true
		}
	}
	return false
}

// loadedFamily is a family's programs in the kernel and their links.
type loadedFamily struct {
	name  string
	coll  *ebpf.Collection
	links []link.Link
}

// loadFamily loads a family's object with the shared maps and load-time
// settings (those it declares), and attaches every program: tracing ones to
// their hook, cgroup ones to cgroupRoot. On error nothing stays attached.
func loadFamily(f family, shared map[string]*ebpf.Map, vars map[string]any, cgroupRoot string, cache *btf.Cache) (_ *loadedFamily, err error) {
	spec, err := f.spec()
	if err != nil {
		return nil, fmt.Errorf("load %s spec: %w", f.name, err)
	}
	for name, value := range vars {
		v, ok := spec.Variables[name]
		if !ok {
			continue
		}
		if err := v.Set(value); err != nil {
			return nil, fmt.Errorf("set %s.%s: %w", f.name, name, err)
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
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load %s programs: %w", f.name, verr)
		}
		return nil, fmt.Errorf("load %s programs: %w", f.name, err)
	}
	lf := &loadedFamily{name: f.name, coll: coll}
	defer func() {
		if err != nil {
			lf.close()
		}
	}()
	for name, prog := range coll.Programs {
		l, err := attach(prog, spec.Programs[name], cgroupRoot)
		if err != nil {
			return nil, fmt.Errorf("attach %s/%s: %w", f.name, name, err)
		}
		lf.links = append(lf.links, l)
	}
	return lf, nil
}

func attach(prog *ebpf.Program, ps *ebpf.ProgramSpec, cgroupRoot string) (link.Link, error) {
	switch ps.Type {
	case ebpf.Tracing:
		return link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
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
