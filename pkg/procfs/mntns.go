package procfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// HostMountNamespace returns the inode of the host's initial mount
// namespace: that of kthreadd (pid 2; kernel threads live in it), or of
// init when kthreadd's is not readable.
func HostMountNamespace(procRoot string) (uint32, error) {
	ns, err := MountNamespace(procRoot, 2)
	if err == nil {
		return ns, nil
	}
	ns, err1 := MountNamespace(procRoot, 1)
	if err1 != nil {
		return 0, fmt.Errorf("host mount namespace, from kthreadd: %w; from init: %w", err, err1)
	}
	return ns, nil
}

// MountNamespace returns the inode of a process's mount namespace.
func MountNamespace(procRoot string, pid uint32) (uint32, error) {
	link, err := os.Readlink(filepath.Join(Dir(procRoot, pid), "ns", "mnt"))
	if err != nil {
		return 0, err
	}
	var ino uint32 // "mnt:[4026531841]"
	if _, err := fmt.Sscanf(link, "mnt:[%d]", &ino); err != nil {
		return 0, fmt.Errorf("parse %q: %w", link, err)
	}
	return ino, nil
}
