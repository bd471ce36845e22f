package bpfobj

import (
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"go.uber.org/zap"
)

// Programs says what Load loads and with what: the families beside exec
// and process, the load-time constants (const volatile globals, by name;
// each family takes those it declares), the shared maps' sizes, their first
// entries, and where cgroup programs attach. The sensor and enforcement
// each describe their part; With joins them.
type Programs struct {
	Families   []Family
	Constants  map[string]any
	MapSizes   map[string]uint32
	Entries    []Entry
	CgroupRoot string
}

// Entry is one map entry written before any program is attached.
type Entry struct {
	Map        string
	Key, Value any
}

// With returns p joined with q; q's constants, sizes and cgroup root win.
func (p Programs) With(q Programs) Programs {
	out := Programs{
		Families:   slices.Concat(p.Families, q.Families),
		Constants:  maps.Clone(p.Constants),
		MapSizes:   maps.Clone(p.MapSizes),
		Entries:    slices.Concat(p.Entries, q.Entries),
		CgroupRoot: p.CgroupRoot,
	}
	if out.Constants == nil {
		out.Constants = map[string]any{}
	}
	if out.MapSizes == nil {
		out.MapSizes = map[string]uint32{}
	}
	maps.Copy(out.Constants, q.Constants)
	maps.Copy(out.MapSizes, q.MapSizes)
	if q.CgroupRoot != "" {
		out.CgroupRoot = q.CgroupRoot
	}
	return out
}

// Objects are the shared maps and the families loaded on them.
type Objects struct {
	maps     map[string]*ebpf.Map
	families []*loadedFamily
	// unavailable holds the optional families that could not load, and why.
	unavailable map[string]error
}

// Load creates the shared maps, writes p's entries, and loads and attaches
// exec, process and p's families. On error nothing stays loaded.
func Load(p Programs, log *zap.Logger) (_ *Objects, err error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	o := &Objects{maps: map[string]*ebpf.Map{}, unavailable: map[string]error{}}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	if err := o.createMaps(p.MapSizes); err != nil {
		return nil, err
	}
	for _, e := range p.Entries {
		m, ok := o.maps[e.Map]
		if !ok {
			return nil, fmt.Errorf("write %s: no such shared map", e.Map)
		}
		if err := m.Put(e.Key, e.Value); err != nil {
			return nil, fmt.Errorf("write %s entry %v: %w", e.Map, e.Key, err)
		}
	}
	// One decoding of the kernel's BTF for every family, dropped after.
	cache := btf.NewCache()
	loaded := map[string]bool{}
	// A family that stands in for a handler turns its switch off; one
	// that announces itself turns its switch on, loaded first.
	constants := maps.Clone(p.Constants)
	announced := func(f Family) bool { return f.announces != "" }
	families := slices.Concat([]Family{FamilyExec, FamilyProcess},
		slices.DeleteFunc(slices.Clone(p.Families), func(f Family) bool { return !announced(f) }),
		slices.DeleteFunc(slices.Clone(p.Families), announced))
	for _, f := range families {
		if loaded[f.Name] {
			continue
		}
		loaded[f.Name] = true
		if f.switches != nil && !slices.ContainsFunc(f.switches, func(s string) bool { return constants[s] == true }) {
			log.Debug("hook family not needed", zap.String("family", f.Name))
			continue
		}
		lf, err := loadFamily(f, o.maps, constants, p.CgroupRoot, cache)
		if err == nil && f.check != nil {
			if err = selfCheck(f, lf); err != nil {
				err = errors.Join(fmt.Errorf("self-check: %w", err), lf.close())
			}
		}
		if err != nil {
			if f.optional {
				o.unavailable[f.Name] = err
				log.Warn("hook family unavailable on this kernel", zap.String("family", f.Name), zap.Error(err))
				continue
			}
			return nil, err
		}
		o.families = append(o.families, lf)
		if f.replaces != "" {
			constants[f.replaces] = false
		}
		if f.announces != "" {
			constants[f.announces] = true
		}
		log.Debug("hook family attached", zap.String("family", f.Name), zap.Int("programs", len(lf.links)))
	}
	debug.FreeOSMemory() // the BTF decoded for loading is tens of MiB no longer needed
	return o, nil
}

// createMaps creates every map the records object declares: they are
// shared by all families.
func (o *Objects) createMaps(sizes map[string]uint32) error {
	spec, err := LoadRecord()
	if err != nil {
		return fmt.Errorf("load shared map specs: %w", err)
	}
	for name, size := range sizes {
		ms, ok := spec.Maps[name]
		if !ok {
			return fmt.Errorf("size %s: no such shared map", name)
		}
		ms.MaxEntries = size
	}
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue // .rodata and .bss are each object's own
		}
		m, err := ebpf.NewMap(ms)
		if err != nil {
			return fmt.Errorf("create map %s: %w", name, err)
		}
		o.maps[name] = m
	}
	return nil
}

// Map returns a shared map by name (the Record*Map* constants).
func (o *Objects) Map(name string) *ebpf.Map { return o.maps[name] }

// Links returns the links of a family's programs; nil when not loaded.
func (o *Objects) Links(family string) []link.Link {
	for _, lf := range o.families {
		if lf.name == family {
			return lf.links
		}
	}
	return nil
}

// Attached returns where a family's programs attach (their ELF sections:
// tp_btf/sys_exit, fexit/do_sys_openat2); nil when it is not loaded.
func (o *Objects) Attached(family string) []string {
	for _, lf := range o.families {
		if lf.name == family {
			return lf.sections
		}
	}
	return nil
}

// Unavailable reports why an optional family (capability, connect-guard)
// is not loaded, or nil when it is (or was not asked for).
func (o *Objects) Unavailable(family string) error { return o.unavailable[family] }

// Close detaches every program and frees the maps. Links pinned in bpffs
// stay attached, with the maps they use.
func (o *Objects) Close() error {
	var errs []error
	for _, lf := range o.families {
		errs = append(errs, lf.close())
	}
	o.families = nil
	for _, m := range o.maps {
		errs = append(errs, m.Close())
	}
	o.maps = nil
	return errors.Join(errs...)
}
