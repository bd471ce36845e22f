package enforce

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Tier is how a hook is enforced on this node, best first.
type Tier string

// The tiers.
const (
	TierLSM       Tier = "lsm"        // a BPF LSM program denies before the action
	TierModReturn Tier = "fmod-ret"   // the same program as fmod_ret on the kernel's security_ function denies before the action
	TierFanotify  Tier = "fanotify"   // a fanotify permission event denies before the open or exec
	TierCgroup    Tier = "cgroup"     // a cgroup BPF program refuses the connect
	TierSignal    Tier = "signal"     // the offender is killed before it returns to user space
	TierAlertOnly Tier = "alert-only" // nothing stops the action here: it is reported
)

// HookTier is the tier one hook family runs at, and why not a better one.
type HookTier struct {
	Hook   string // exec, open, connect (inet), capability, connect_unix, io_uring
	Tier   Tier
	Reason string
}

// Probes are what the node was found to support, by actually loading
// programs (not by feature probes alone).
type Probes struct {
	// LSM is nil when a BPF LSM program loaded, else why it did not.
	LSM error
	// ModReturn is nil when the LSM programs loaded as fmod_ret programs
	// on the security_ functions, else why they did not (probed only
	// where LSM is not nil).
	ModReturn error
	// CapabilityHook is nil when a capability program of the sensor's
	// loaded (fexit/cap_capable or the cap_capable tracepoint).
	CapabilityHook error
	// IoUringHook is nil when the io_uring tracepoint programs loaded.
	IoUringHook error
	// ConnectGuard is nil when the cgroup connect programs are attached.
	ConnectGuard error
	// Fanotify is nil when a fanotify permission listener could start.
	Fanotify error
	// UnixGuard is nil when the cgroup/connect_unix program is attached;
	// UnixSignal says whether the connect exit kills for unix sockets
	// instead (it does wherever the guard was not asked for).
	UnixGuard  error
	UnixSignal bool
}

// Tiers decides each hook's tier from what loaded: BPF LSM programs for
// every hook where they load; elsewhere the same programs as fmod_ret on
// the security_ functions where those load; else a fanotify listener for
// opens, the signal tier for exec and capabilities, the cgroup connect
// programs for inet connects. Unix connects are refused by the
// cgroup/connect_unix program wherever it loads, and killed for at the
// connect's exit where it does not. io_uring is the signal tier's
// everywhere.
func Tiers(p Probes) []HookTier {
	return append(hookTiers(p), ioUringTier(p))
}

// ioUringWhy says why io_uring is enforced by the signal tier even where BPF
// LSM programs load.
const ioUringWhy = "no LSM hook sees a ring set up before Linux 6.15 (uring_allowed), nor a request's opcode: " +
	"the io_uring tracepoints kill a process that sets up a ring, or submits an opcode, its profile does not list"

func ioUringTier(p Probes) HookTier {
	if p.IoUringHook != nil {
		return HookTier{Hook: "io_uring", Tier: TierAlertOnly, Reason: "io_uring tracepoints: " + p.IoUringHook.Error()}
	}
	return HookTier{Hook: "io_uring", Tier: TierSignal, Reason: ioUringWhy}
}

func hookTiers(p Probes) []HookTier {
	if p.LSM == nil {
		const why = "BPF LSM programs load here"
		return []HookTier{
			{Hook: "exec", Tier: TierLSM, Reason: why},
			{Hook: "open", Tier: TierLSM, Reason: why},
			{Hook: "connect", Tier: TierLSM, Reason: why + " (inet sockets; unix sockets: connect_unix)"},
			{Hook: "capability", Tier: TierLSM, Reason: why + "; " + unjudgedNames() +
				" are enforced where the kernel audits the check, but neither learned nor monitored: " + unjudgedWhy},
			unixTier(p),
		}
	}
	lsm := "BPF LSM programs cannot load here: " + p.LSM.Error()
	if p.ModReturn == nil {
		return modReturnTiers(p, lsm)
	}
	lsm += "; fmod_ret: " + p.ModReturn.Error()
	// fanotify sees every file an exec opens — a script, then its
	// interpreter, then the ELF loader — where profiles hold the program
	// that ends up running (what the sensor reports): the signal tier
	// judges exactly that.
	const execNoFanotify = "fanotify exec events judge scripts and loaders a profile does not list"
	tiers := []HookTier{
		{Hook: "exec", Tier: TierSignal, Reason: lsm + "; " + execNoFanotify},
		{Hook: "open", Tier: TierFanotify, Reason: lsm + "; an open whose access cannot be told from its thread's system call (an io_uring worker's) " +
			"is judged as read or write; a userspace listener does not survive an agent restart: opens go unjudged until the next agent marks the containers"},
		{Hook: "connect", Tier: TierCgroup, Reason: lsm},
		{Hook: "capability", Tier: TierSignal, Reason: lsm + "; " + unjudgedNames() +
			" are neither enforced, learned nor monitored: " + unjudgedWhy},
		unixTier(p),
	}
	if p.ConnectGuard != nil {
		tiers[2] = HookTier{Hook: "connect", Tier: TierAlertOnly, Reason: lsm + "; cgroup connect programs: " + p.ConnectGuard.Error()}
	}
	if p.Fanotify != nil {
		tiers[1] = HookTier{Hook: "open", Tier: TierAlertOnly, Reason: lsm + "; fanotify: " + p.Fanotify.Error()}
	}
	if p.CapabilityHook != nil {
		tiers[3] = HookTier{Hook: "capability", Tier: TierAlertOnly, Reason: lsm + "; cap_capable tracepoint: " + p.CapabilityHook.Error()}
	}
	return tiers
}

// modReturnTiers are the tiers where the LSM programs run as fmod_ret on
// the security_ functions: what BPF LSM denies, they deny at the same
// point, before the kernel's LSMs and before fanotify's permission event;
// a capability only where the capability module would grant it.
func modReturnTiers(p Probes, lsm string) []HookTier {
	why := lsm + "; the same programs run as fmod_ret on "
	return []HookTier{
		{Hook: "exec", Tier: TierModReturn, Reason: why + "security_bprm_check"},
		{Hook: "open", Tier: TierModReturn, Reason: why + "security_file_open"},
		{Hook: "connect", Tier: TierModReturn, Reason: why + "security_socket_connect (inet sockets; unix sockets: connect_unix)"},
		{Hook: "capability", Tier: TierModReturn, Reason: why + "security_capable; " + unjudgedNames() +
			" are enforced where the kernel audits the check, but neither learned nor monitored: " + unjudgedWhy},
		unixTier(p),
	}
}

// unixTier is the tier of unix-socket connects: the cgroup/connect_unix
// program (Linux 6.7+) refuses them before the connect; without it the
// task is killed at the connect's exit, after the connection is made.
func unixTier(p Probes) HookTier {
	const limits = "; the address is judged as the caller wrote it (a symlink to a socket is not followed); unconnected datagram sends are not judged"
	switch {
	case p.UnixGuard == nil:
		return HookTier{Hook: "connect_unix", Tier: TierCgroup, Reason: "cgroup/connect_unix at the cgroup2 root" + limits}
	case p.UnixSignal:
		return HookTier{Hook: "connect_unix", Tier: TierSignal, Reason: "cgroup/connect_unix: " + p.UnixGuard.Error() +
			"; killed at the connect's exit: the connection is made and the task dies before it returns to user space, " +
			"the address is read from its memory after the call" + limits}
	}
	return HookTier{Hook: "connect_unix", Tier: TierAlertOnly, Reason: "cgroup/connect_unix: " + p.UnixGuard.Error()}
}

// unjudgedWhy says why sensor.UnjudgedCapabilities are left alone.
const unjudgedWhy = "the cap_capable tracepoint cannot tell the noaudit checks the kernel makes of them " +
	"on every workload's paths (CAP_SYS_ADMIN on every mmap) from uses"

func unjudgedNames() string {
	names := make([]string, len(sensor.UnjudgedCapabilities))
	for i, c := range sensor.UnjudgedCapabilities {
		names[i] = sensor.CapabilityName(c)
	}
	return strings.Join(names, ", ")
}

// KernelHooks is the set of hooks some kernel tier enforces.
func KernelHooks(tiers []HookTier) Hooks {
	var h Hooks
	for _, t := range tiers {
		if t.Tier == TierAlertOnly {
			continue
		}
		switch t.Hook {
		case "exec":
			h |= HookExec
		case "open":
			h |= HookOpen
		case "connect", "connect_unix":
			h |= HookConnect
		case "capability":
			h |= HookCapability
		case "io_uring":
			h |= HookIoUring
		}
	}
	return h
}

// RegisterTiers exports the tiers as vigil_enforcement_tier{hook,tier,reason} 1,
// and returns the gauge, for a tier that is lost later.
func RegisterTiers(reg prometheus.Registerer, tiers []HookTier) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigil_enforcement_tier",
		Help: "The mechanism enforcing each hook on this node (1 for the tier in force).",
	}, []string{"hook", "tier", "reason"})
	for _, t := range tiers {
		g.WithLabelValues(t.Hook, string(t.Tier), t.Reason).Set(1)
	}
	if err := reg.Register(g); err != nil {
		return nil, fmt.Errorf("register enforcement tiers: %w", err)
	}
	u := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigil_capability_unjudged",
		Help: "Capabilities neither learned nor monitored here: the cap_capable tracepoint cannot tell the kernel's noaudit checks of them from uses (1 per capability; enforced: whether BPF LSM enforces them anyway).",
	}, []string{"capability", "enforced"})
	for _, t := range tiers {
		if t.Hook != "capability" || t.Tier == TierAlertOnly {
			continue
		}
		for _, c := range sensor.UnjudgedCapabilities {
			u.WithLabelValues(sensor.CapabilityName(c), strconv.FormatBool(t.Tier == TierLSM || t.Tier == TierModReturn)).Set(1)
		}
	}
	if err := reg.Register(u); err != nil {
		return nil, fmt.Errorf("register unjudged capabilities: %w", err)
	}
	return g, nil
}
