package posture

import (
	"slices"
	"strings"
)

// Level is a Kubernetes Pod Security Standards level.
type Level string

// The levels, least to most restrictive.
const (
	LevelPrivileged Level = "privileged"
	LevelBaseline   Level = "baseline"
	LevelRestricted Level = "restricted"
)

// baselineCapabilities are the capabilities the baseline level lets a pod
// add.
var baselineCapabilities = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
	"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// level applies the Pod Security Standards rules that the runtime spec
// shows (the standards judge the pod spec; these are their effect):
//
// baseline: not privileged; no host PID, network or IPC namespace; no
// hostPath volume (a host bind mount); no capability added beyond the
// runtime's default set other than the baseline's list (AUDIT_WRITE, CHOWN,
// DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP,
// SETGID, SETPCAP, SETUID, SYS_CHROOT).
//
// restricted: baseline, and runs as a non-root user, allowPrivilegeEscalation
// false (no_new_privs), a seccomp profile, and every capability dropped but
// NET_BIND_SERVICE.
//
// Not checked (not visible in the runtime spec, or the runtime's to
// enforce): AppArmor and SELinux options, /proc mount type, sysctls,
// hostPorts, volume types other than hostPath.
func level(r *Report) (Level, []string, []string) {
	var notBaseline, notRestricted []string
	for _, f := range []Finding{Privileged, HostPID, HostNetwork, HostIPC, HostPathMount} {
		if r.Has(f) {
			notBaseline = append(notBaseline, string(f))
		}
	}
	var beyond []string
	for _, c := range r.AddedCapabilities {
		if !slices.Contains(baselineCapabilities, c) {
			beyond = append(beyond, c)
		}
	}
	if len(beyond) > 0 && !r.Has(Privileged) {
		notBaseline = append(notBaseline, "capabilities_added:"+strings.Join(beyond, ","))
	}
	for _, f := range []Finding{RunAsRoot, PrivilegeEscalation, NoSeccomp} {
		if r.Has(f) {
			notRestricted = append(notRestricted, string(f))
		}
	}
	if kept := slices.DeleteFunc(slices.Clone(r.Capabilities), func(c string) bool { return c == "CAP_NET_BIND_SERVICE" }); len(kept) > 0 {
		notRestricted = append(notRestricted, "capabilities_not_dropped")
	}
	switch {
	case len(notBaseline) > 0:
		return LevelPrivileged, notBaseline, notRestricted
	case len(notRestricted) > 0:
		return LevelBaseline, nil, notRestricted
	}
	return LevelRestricted, nil, nil
}
