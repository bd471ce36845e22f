package enforce

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/procfs"
)

// KernelConfig is what enforcement asks of vigil's programs.
type KernelConfig struct {
	// LSM loads the BPF LSM programs that deny, before the action, what
	// enforced profiles do not allow; the signal tier is then off. Set it
	// only where ProbeLSM succeeded: their failing to load is an error.
	LSM bool
	// ModReturn loads the same programs as fmod_ret programs on the
	// security_ functions (where LSM is off): they deny as BPF LSM does.
	// Set it only where ProbeModReturn succeeded.
	ModReturn bool
	// GuardConnect loads the cgroup connect programs, attached at
	// CgroupRoot (the cgroup2 mount), that refuse connects enforced
	// profiles do not allow.
	GuardConnect bool
	// GuardUnix loads the cgroup/connect_unix program, attached at
	// CgroupRoot, that refuses unix connects enforced profiles do not
	// allow; without it they are killed for at the system call's exit.
	GuardUnix  bool
	CgroupRoot string
	// LearnWindow is how long a use a learning container repeats (an open,
	// an inet connect, a capability) stays in the kernel after it was
	// reported (ScopePolicy.Collapse); 0 reports every use.
	LearnWindow time.Duration
	// PinDir, when set (a directory on bpffs, mounted if needed), keeps the
	// enforcing programs attached after they are closed; see
	// Kernel.ReleasePrevious.
	PinDir string
	// ProcRoot and HostMntNS are the host's procfs and mount namespace:
	// Contained judges a process the kernel has no record of by its mount
	// namespace.
	ProcRoot  string
	HostMntNS uint32
}

// DefaultKernelConfig reports learned uses once per 10 s and pins nothing.
func DefaultKernelConfig() KernelConfig {
	return KernelConfig{LearnWindow: 10 * time.Second, ProcRoot: procfs.DefaultRoot}
}

// Programs is what enforcement adds to the sensor's programs (sensor.New
// takes it): the LSM family (as BPF LSM or as fmod_ret programs) or the
// connect guard family, and the unix guard; whether the capability program
// kills (the signal tier, where neither runs; the exec program kills for
// an applet a profile refuses on every tier, as the exec is judged before
// its argv is in place); whether the connect exit kills for unix sockets
// (when there is no unix guard); the open guard (where opens are enforced
// by the fanotify listener, the signal tier for them while no listener
// runs: see Kernel.ListenerBeat); and the learn window.
func (c KernelConfig) Programs() bpfobj.Programs {
	p := bpfobj.Programs{
		Constants: map[string]any{
			bpfobj.RecordVarKillTier:      !c.LSM && !c.ModReturn,
			bpfobj.RecordVarUnixKillTier:  !c.GuardUnix,
			bpfobj.RecordVarLearnWindowNs: uint64(max(c.LearnWindow, 0)),
		},
		CgroupRoot: c.CgroupRoot,
	}
	if c.LearnWindow <= 0 { // every use is reported: the LRUs, preallocated, would sit idle
		p.MapSizes = map[string]uint32{bpfobj.RecordMapLearnOpens: 1, bpfobj.RecordMapLearnConnects: 1, bpfobj.RecordMapLearnCaps: 1}
	}
	if c.GuardConnect {
		p.Families = append(p.Families, bpfobj.FamilyConnectGuard)
	}
	if c.GuardUnix {
		p.Families = append(p.Families, bpfobj.FamilyUnixGuard)
	}
	switch {
	case c.LSM:
		p.Families = append(p.Families, bpfobj.FamilyLSM)
	case c.ModReturn:
		p.Families = append(p.Families, bpfobj.FamilyModReturn)
	default:
		p.Families = append(p.Families, bpfobj.FamilyOpenGuard)
		p.Constants[bpfobj.RecordVarListenerStaleNs] = uint64(listenerStale)
	}
	return p
}

// Kernel is enforcement's side of vigil's programs: the policy maps, the
// scope table, the task records, and the pinned links that keep enforcing
// across an agent restart.
type Kernel struct {
	objs       *bpfobj.Objects
	log        *zap.Logger
	procRoot   string
	hostMntNS  uint32
	pinDir     string // "" when enforcement does not outlive the programs
	generation string // this run's pin directory

	released    chan struct{} // closed by ReleasePrevious
	releaseOnce sync.Once
}

// NewKernel takes the objects loaded with cfg.Programs() and pins their
// enforcing links (cfg.PinDir). On error nothing of this run stays pinned.
func NewKernel(objs *bpfobj.Objects, cfg KernelConfig, log *zap.Logger) (*Kernel, error) {
	k := &Kernel{objs: objs, log: log, procRoot: cfg.ProcRoot, hostMntNS: cfg.HostMntNS, released: make(chan struct{})}
	if cfg.PinDir == "" {
		return k, nil
	}
	if err := ensureBPFFS(cfg.PinDir); err != nil {
		return nil, err
	}
	gen, err := pinGeneration(objs, cfg.PinDir)
	if err != nil {
		if gen != "" {
			unpinGeneration(gen)
		}
		return nil, err
	}
	k.pinDir, k.generation = cfg.PinDir, gen
	return k, nil
}

// Unavailable reports why an optional family (connect-guard) is not
// loaded, or nil when it is (or was not asked for).
func (k *Kernel) Unavailable(family string) error { return k.objs.Unavailable(family) }

// Contained reports whether process pid runs its container's workload, as
// the kernel tracks it (task storage, updated at every fork and exec), so
// without the lag of events. A process older than the programs, which the
// kernel has no record of, is judged as the kernel judges it: by its mount
// namespace.
func (k *Kernel) Contained(pid int) (bool, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	defer unix.Close(fd)
	return k.containedFD(fd, pid)
}

// containedFD is Contained for the process pidfd fd refers to, pid.
func (k *Kernel) containedFD(fd int, pid int) (bool, error) {
	var st bpfobj.RecordTaskState
	err := k.objs.Map(bpfobj.RecordMapTaskStates).Lookup(int32(fd), &st)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		ns, err := procfs.MountNamespace(k.procRoot, uint32(pid))
		if err != nil {
			return false, fmt.Errorf("mount namespace of %d: %w", pid, err)
		}
		return ns != k.hostMntNS, nil
	}
	if err != nil {
		return false, fmt.Errorf("task state of %d: %w", pid, err)
	}
	return st.Contained != 0, nil
}

// MapUsage is one of the policy maps: its entries and the memory the
// kernel charges for it.
type MapUsage struct {
	Name    string
	Entries int
	Bytes   uint64 // memlock, from fdinfo
}

// PolicyMapUsage reports the maps compiled profiles live in.
func (k *Kernel) PolicyMapUsage() ([]MapUsage, error) {
	var out []MapUsage
	for _, name := range []string{bpfobj.RecordMapScopePolicies, bpfobj.RecordMapPathRules, bpfobj.RecordMapNetRules,
		bpfobj.RecordMapCapRules, bpfobj.RecordMapKnownOpens} {
		m := k.objs.Map(name)
		u := MapUsage{Name: name}
		it := m.Iterate()
		key := make([]byte, m.KeySize())
		val := make([]byte, m.ValueSize())
		for it.Next(&key, &val) {
			u.Entries++
		}
		if err := it.Err(); err != nil {
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		b, err := os.ReadFile(filepath.Join(k.procRoot, "self", "fdinfo", strconv.Itoa(m.FD())))
		if err != nil {
			return nil, fmt.Errorf("fdinfo of %s: %w", name, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "memlock:"); ok {
				u.Bytes, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
		out = append(out, u)
	}
	return out, nil
}
