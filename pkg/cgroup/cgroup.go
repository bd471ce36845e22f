// Package cgroup finds the host's cgroup2 hierarchy and maps cgroup2
// directories to the ids the kernel reports (bpf_get_current_cgroup_id).
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoCgroup2 means the host has no cgroup2 mount.
var ErrNoCgroup2 = errors.New("no cgroup2 mount")

// Mountpoint returns where cgroup2 is mounted: /sys/fs/cgroup on a unified
// host, /sys/fs/cgroup/unified on a hybrid v1/v2 one, or elsewhere; from
// the mountinfo of this process in the procfs at procRoot.
func Mountpoint(procRoot string) (string, error) {
	f, err := os.Open(filepath.Join(procRoot, "self", "mountinfo"))
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	mountpoint, _, err := FindMount(f)
	return mountpoint, err
}

// ID returns the cgroup id of a cgroup2 directory: its inode number.
func ID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("stat cgroup %s: %w", dir, err)
	}
	return st.Ino, nil
}

// OfProcess returns the cgroup2 path of a process relative to the hierarchy's
// root ("/k8s.io/abc…"), from /proc/<pid>/cgroup.
func OfProcess(procRoot string, pid uint32) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", fmt.Errorf("read cgroup of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest, nil
		}
	}
	return "", fmt.Errorf("process %d: %w", pid, ErrNoCgroup2)
}
