package enforce

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/procfs"
)

// imageFile reports whether fd, a file process pid is opening at path (as
// the container sees it), is content the container's image ships, as the
// kernel's programs tell it (bpf/lib/image.h): on the process's root
// mount, an overlay, and not in its upper directory (written or copied up
// at run time). The upper directory is a path of the container runtime's
// mount namespace, which mounted the overlay: runtimeRoot is that
// namespace's root directory as this process sees it. Anything it cannot
// tell is not image content.
func imageFile(procRoot, runtimeRoot string, pid int32, fd int32, path string) bool {
	if runtimeRoot == "" {
		return false
	}
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
		// The upper directory itself first: a path that does not resolve
		// from here (the runtime's root gone, another namespace) must not
		// read as "not written at run time".
		if st, err := os.Stat(filepath.Join(runtimeRoot, upper)); err != nil || !st.IsDir() {
			return false
		}
		_, err := os.Lstat(filepath.Join(runtimeRoot, upper, path))
		return errors.Is(err, fs.ErrNotExist)
	}
	return false
}

// runtimeRoot is the root directory of the container runtime's mount
// namespace (runtimeNS) as this process sees it: "/" when this process
// shares it (the agent beside containerd, on the node or in a test); else
// the root of a process in that namespace, from the host's procfs (init's
// may not be readable, as on some VMs); "" when none is found.
func runtimeRoot(procRoot string, runtimeNS uint32) string {
	if own, err := procfs.MountNamespace(procRoot, uint32(os.Getpid())); err == nil && own == runtimeNS {
		return "/"
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		if ns, err := procfs.MountNamespace(procRoot, uint32(pid)); err != nil || ns != runtimeNS {
			continue
		}
		root := filepath.Join(procfs.Dir(procRoot, uint32(pid)), "root")
		if _, err := os.Stat(root); err == nil {
			return root
		}
	}
	return ""
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
