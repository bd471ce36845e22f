package containers

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// errRelativeCgroupsPath means a spec's cgroupsPath is relative: runc puts
// it under its own cgroup, which only the container's process can tell.
var errRelativeCgroupsPath = errors.New("relative cgroupsPath")

// specCgroupPath returns the cgroup2 hierarchy path runc makes for a spec's
// Linux.CgroupsPath, in either of its forms:
//
//   - systemd driver, "slice:prefix:name" (kubelet with the systemd cgroup
//     driver: "kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>") →
//     /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope
//   - cgroupfs driver, an absolute path ("/k8s.io/<id>",
//     "/kubepods/besteffort/pod<uid>/<id>") → itself.
func specCgroupPath(cgroupsPath string) (string, error) {
	if cgroupsPath == "" {
		return "", errors.New("spec has no cgroupsPath")
	}
	if parts := strings.Split(cgroupsPath, ":"); len(parts) == 3 && !strings.HasPrefix(cgroupsPath, "/") {
		return systemdCgroupPath(parts[0], parts[1], parts[2])
	}
	if !strings.HasPrefix(cgroupsPath, "/") {
		return "", fmt.Errorf("%w %q", errRelativeCgroupsPath, cgroupsPath)
	}
	return path.Clean(cgroupsPath), nil
}

// systemdCgroupPath is runc's systemd-driver layout: the expanded parent
// slice, then the unit (a scope named prefix-name, or name if it is a slice).
func systemdCgroupPath(slice, prefix, name string) (string, error) {
	if slice == "" {
		slice = "system.slice"
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", err
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		unit = prefix + "-" + name + ".scope"
	}
	return path.Join(dir, unit), nil
}

// expandSlice turns a systemd slice name into its cgroup path:
// "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice", "-.slice" → "/".
func expandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || name == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid systemd slice %q", slice)
	}
	if name == "-" {
		return "/", nil
	}
	var p, prefix strings.Builder
	for component := range strings.SplitSeq(name, "-") {
		if component == "" {
			return "", fmt.Errorf("invalid systemd slice %q", slice)
		}
		p.WriteString("/" + prefix.String() + component + ".slice")
		prefix.WriteString(component + "-")
	}
	return p.String(), nil
}

// maxCandidates bounds the container ids tried for one cgroup path: each
// costs a containerd call per namespace.
const maxCandidates = 8

// candidateIDs returns the container ids a cgroup path may belong to,
// deepest component first, full-length (64-hex) ids before other names. A
// systemd unit "prefix-name.scope" gives every suffix after a '-', since
// both prefix and name may contain '-'.
func candidateIDs(cgroupPath string) []string {
	components := strings.Split(strings.Trim(cgroupPath, "/"), "/")
	var hexIDs, names []string
	seen := map[string]bool{}
	add := func(id string) {
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		if isHexID(id) {
			hexIDs = append(hexIDs, id)
		} else {
			names = append(names, id)
		}
	}
	for i := len(components) - 1; i >= 0 && i >= len(components)-3; i-- {
		c := components[i]
		unit, isScope := strings.CutSuffix(c, ".scope")
		if !isScope {
			add(c)
			continue
		}
		for j := 0; j < len(unit); j++ {
			if unit[j] == '-' {
				add(unit[j+1:])
			}
		}
		add(unit)
	}
	out := append(hexIDs, names...)
	if len(out) > maxCandidates {
		out = out[:maxCandidates]
	}
	return out
}

// isHexID reports whether s has the form of a Kubernetes (CRI) container id.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// looksLikeContainer reports whether a cgroup path has the shape of a
// container's: a 64-hex id in one of its last components, a kubepods
// hierarchy, or a first component that is a containerd namespace (the
// layout containerd's default spec uses: /<namespace>/<id>).
func looksLikeContainer(cgroupPath string, namespaces []string) bool {
	trimmed := strings.Trim(cgroupPath, "/")
	if trimmed == "" {
		return false
	}
	components := strings.Split(trimmed, "/")
	for _, c := range components {
		if strings.HasPrefix(c, "kubepods") {
			return true
		}
	}
	for _, id := range candidateIDs(cgroupPath) {
		if isHexID(id) {
			return true
		}
	}
	if len(components) >= 2 {
		for _, ns := range namespaces {
			if components[0] == ns {
				return true
			}
		}
	}
	return false
}

// within reports whether cgroup path p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
