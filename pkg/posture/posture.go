package posture

import (
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Finding names one privilege a container holds that a least-privilege
// container would not. The names are metric label values.
type Finding string

// Findings, in the order reports list them.
const (
	// Privileged: every capability, no seccomp filter and no masked /proc
	// paths (what `privileged: true` gives).
	Privileged Finding = "privileged"
	// RunAsRoot: the process runs as uid 0.
	RunAsRoot Finding = "run_as_root"
	// AddedCapabilities: capabilities beyond the container runtime's
	// default set (Report.AddedCapabilities).
	AddedCapabilities Finding = "added_capabilities"
	// UnusedCapabilities: capabilities granted that the image's learned
	// profile never used (Report.UnusedCapabilities).
	UnusedCapabilities Finding = "unused_capabilities"
	// WritableRootFS: the root file system is not read-only.
	WritableRootFS Finding = "writable_root_fs"
	// HostPID, HostNetwork, HostIPC: the container shares the node's
	// namespace.
	HostPID     Finding = "host_pid"
	HostNetwork Finding = "host_network"
	HostIPC     Finding = "host_ipc"
	// HostPathMount: a directory or file of the node is bind-mounted
	// (Report.HostMounts); the runtime's own per-container files and
	// kubelet's volumes (emptyDir, secrets, config maps) do not count.
	HostPathMount Finding = "host_path_mount"
	// SensitiveHostMount: one of them is /, /etc, /proc, /sys, /var/run,
	// /run, /var/lib/kubelet, or below /etc.
	SensitiveHostMount Finding = "sensitive_host_mount"
	// RuntimeSocketMount: one of them is, or holds, the containerd, CRI-O
	// or Docker socket: control of every container on the node.
	RuntimeSocketMount Finding = "runtime_socket_mount"
	// NoSeccomp: no seccomp filter.
	NoSeccomp Finding = "no_seccomp"
	// PrivilegeEscalation: no_new_privs is off, so setuid binaries can
	// raise privileges (allowPrivilegeEscalation: true).
	PrivilegeEscalation Finding = "privilege_escalation"
)

// All is every finding, in report order.
var All = []Finding{Privileged, RunAsRoot, AddedCapabilities, UnusedCapabilities, WritableRootFS, HostPID, HostNetwork, HostIPC,
	HostPathMount, SensitiveHostMount, RuntimeSocketMount, NoSeccomp, PrivilegeEscalation}

// RuntimeDefaultCapabilities are the capabilities containerd (and Docker,
// and CRI-O's default) give a container that asks for none.
var RuntimeDefaultCapabilities = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
	"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// runtimeSockets are the container runtimes' control sockets.
var runtimeSockets = []string{
	"/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock",
	"/run/docker.sock", "/var/run/docker.sock", "/run/crio/crio.sock", "/var/run/crio/crio.sock",
}

// sensitiveSources are host paths whose mount hands a container the node.
var sensitiveSources = []string{"/", "/etc", "/proc", "/sys", "/var/run", "/run", "/var/lib/kubelet", "/var/lib/containerd", "/dev"}

// runtimeOwned are where the container runtime and kubelet keep files they
// mount into containers of their own making (/etc/hosts, resolv.conf,
// emptyDir, secrets, service-account tokens): not host paths a pod asked for.
var runtimeOwned = []string{
	"/var/lib/containerd/io.containerd.grpc.v1.cri/", "/run/containerd/io.containerd.grpc.v1.cri/",
	"/var/lib/kubelet/pods/", "/var/lib/docker/containers/",
}

// Report is a container's posture.
type Report struct {
	Findings []Finding
	// UID is the process's user id.
	UID uint32
	// Capabilities is the effective set, sorted.
	Capabilities []string
	// AddedCapabilities are those beyond RuntimeDefaultCapabilities.
	AddedCapabilities []string
	// UnusedCapabilities are those granted that a profile never used (set
	// by WithProfile).
	UnusedCapabilities []string
	// HostMounts are the host paths bind-mounted, as "source:destination".
	HostMounts []string
	// Level is the highest Pod Security Standards level met, and
	// NotRestricted / NotBaseline the rules that stop it meeting the next.
	Level         Level
	NotBaseline   []string
	NotRestricted []string
}

// Has reports whether r has finding f.
func (r *Report) Has(f Finding) bool { return slices.Contains(r.Findings, f) }

// Assess judges a container's OCI runtime spec.
func Assess(spec *specs.Spec) Report {
	var r Report
	add := func(f Finding, cond bool) {
		if cond && !r.Has(f) {
			r.Findings = append(r.Findings, f)
		}
	}
	proc := spec.Process
	if proc == nil {
		proc = &specs.Process{}
	}
	if proc.Capabilities != nil {
		r.Capabilities = slices.Clone(proc.Capabilities.Effective)
		slices.Sort(r.Capabilities)
		r.Capabilities = slices.Compact(r.Capabilities)
	}
	for _, c := range r.Capabilities {
		if !slices.Contains(RuntimeDefaultCapabilities, c) {
			r.AddedCapabilities = append(r.AddedCapabilities, c)
		}
	}
	r.UID = proc.User.UID
	linux := spec.Linux
	if linux == nil {
		linux = &specs.Linux{}
	}
	hostNS := func(t specs.LinuxNamespaceType) bool {
		return !slices.ContainsFunc(linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
	}
	add(Privileged, slices.Contains(r.Capabilities, "CAP_SYS_ADMIN") && len(r.AddedCapabilities) >= 20 &&
		linux.Seccomp == nil && len(linux.MaskedPaths) == 0)
	add(RunAsRoot, r.UID == 0)
	add(AddedCapabilities, len(r.AddedCapabilities) > 0)
	add(WritableRootFS, spec.Root == nil || !spec.Root.Readonly)
	add(HostPID, hostNS(specs.PIDNamespace))
	add(HostNetwork, hostNS(specs.NetworkNamespace))
	add(HostIPC, hostNS(specs.IPCNamespace))
	for _, m := range spec.Mounts {
		if !isHostBind(m) {
			continue
		}
		r.HostMounts = append(r.HostMounts, m.Source+":"+m.Destination)
		src := path.Clean(m.Source)
		add(HostPathMount, true)
		add(SensitiveHostMount, slices.Contains(sensitiveSources, src) || strings.HasPrefix(src, "/etc/"))
		add(RuntimeSocketMount, slices.ContainsFunc(runtimeSockets, func(sock string) bool {
			return sock == src || strings.HasPrefix(sock, strings.TrimSuffix(src, "/")+"/")
		}))
	}
	add(NoSeccomp, linux.Seccomp == nil)
	add(PrivilegeEscalation, !proc.NoNewPrivileges)
	r.sortFindings()
	r.Level, r.NotBaseline, r.NotRestricted = level(&r)
	return r
}

// isHostBind reports whether m bind-mounts a node path the runtime does
// not own.
func isHostBind(m specs.Mount) bool {
	bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
	if !bind || !path.IsAbs(m.Source) {
		return false
	}
	return !slices.ContainsFunc(runtimeOwned, func(dir string) bool { return strings.HasPrefix(m.Source, dir) })
}

// WithProfile adds the capabilities granted that used never holds (the
// capabilities a learned profile saw the container's image use). It does
// not modify the slices of the report r was copied from.
func (r *Report) WithProfile(used []string) {
	r.Findings = slices.Clone(r.Findings)
	r.UnusedCapabilities = nil
	for _, c := range r.Capabilities {
		if !slices.Contains(used, c) {
			r.UnusedCapabilities = append(r.UnusedCapabilities, c)
		}
	}
	r.Findings = slices.DeleteFunc(r.Findings, func(f Finding) bool { return f == UnusedCapabilities })
	if len(r.UnusedCapabilities) > 0 {
		r.Findings = append(r.Findings, UnusedCapabilities)
		r.sortFindings()
	}
}

func (r *Report) sortFindings() {
	slices.SortFunc(r.Findings, func(a, b Finding) int { return slices.Index(All, a) - slices.Index(All, b) })
}

// Worse returns the findings r has that prev does not.
func (r *Report) Worse(prev Report) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if !prev.Has(f) && f != UnusedCapabilities {
			out = append(out, f)
		}
	}
	return out
}
