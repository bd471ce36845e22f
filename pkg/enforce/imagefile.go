package enforce

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/procfs"
)

// imageFile reports whether fd, a file process pid is opening at path (as
// the container sees it), is content the container's image ships, as the
// kernel's programs tell it (bpf/lib/image.h): on the process's root
// mount, an overlay, and not in its upper directory (written or copied up
// at run time). The upper directory is a path of the host: hostRoot is
// the host's root directory as this process sees it. Anything it cannot
// tell is not image content.
func imageFile(procRoot, hostRoot string, pid int32, fd int32, path string) bool {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(fd), &sfs); err != nil || sfs.Type != unix.OVERLAYFS_SUPER_MAGIC {
		return false
	}
	var file, root unix.Statx_t
	if unix.Statx(int(fd), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &file) != nil ||
		unix.Statx(unix.AT_FDCWD, filepath.Join(procfs.Dir(procRoot, uint32(pid)), "root"), 0, unix.STATX_MNT_ID, &root) != nil ||
		file.Mnt_id != root.Mnt_id {
		return false
	}
	mounts, err := procfs.Mounts(procRoot, uint32(pid))
	if err != nil {
		return false
	}
	for _, m := range mounts {
		if m.ID != root.Mnt_id {
			continue
		}
		upper, ok := overlayUpper(m.Options)
		if !ok {
			return true
		}
		_, err := os.Lstat(filepath.Join(hostRoot, upper, path))
		return errors.Is(err, fs.ErrNotExist)
	}
	return false
}

// hostRoot is the host's root directory as this process sees it: "/" in
// the host's mount namespace, else through init's root in the host's procfs.
func hostRoot(procRoot string) string {
	own, err := procfs.MountNamespace(procRoot, uint32(os.Getpid()))
	if host, hostErr := procfs.HostMountNamespace(procRoot); err == nil && hostErr == nil && own == host {
		return "/"
	}
	return filepath.Join(procfs.Dir(procRoot, 1), "root")
}

// overlayUpper is the upperdir of an overlay's super block options; an
// overlay without one (read-only, all lower) has no run-time files.
func overlayUpper(options string) (string, bool) {
	for _, opt := range strings.Split(options, ",") {
		if dir, ok := strings.CutPrefix(opt, "upperdir="); ok {
			return dir, true
		}
	}
	return "", false
}
