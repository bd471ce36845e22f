package cgroup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/procfs"
)

// fileidKernfs is the file-handle type of kernfs (cgroup2) inodes: the handle
// is the node's 64-bit id, the same id bpf_get_current_cgroup_id returns.
const fileidKernfs = 0xfe

// ErrGone means a cgroup id names no cgroup any more (its directory was
// removed), so its path cannot be found.
var ErrGone = errors.New("cgroup no longer exists")

// FS finds cgroup2 directories and their ids on the host's cgroup2
// mount, wherever it is (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a v1/v2
// hybrid).
type FS struct {
	// mountpoint is where the cgroup2 hierarchy is mounted here.
	mountpoint string
	// root is the hierarchy path mounted at mountpoint ("/" unless this
	// process sees only a subtree, as in a container with a cgroup namespace).
	root string
	// rootID is the id of the cgroup at mountpoint.
	rootID uint64
	// mountFD is an open directory on the mount, for open_by_handle_at.
	mountFD int
	// procRoot is the procfs this process's own fds are read from.
	procRoot string
}

// Open opens the cgroup2 mount at mountpoint, or finds it in this
// process's mountinfo in the procfs at procRoot when mountpoint is empty.
func Open(mountpoint, procRoot string) (*FS, error) {
	root := "/"
	if mountpoint == "" {
		mountinfo := filepath.Join(procRoot, "self", "mountinfo")
		f, err := os.Open(mountinfo)
		if err != nil {
			return nil, fmt.Errorf("find cgroup2 mount: %w", err)
		}
		defer f.Close()
		if mountpoint, root, err = FindMount(f); err != nil {
			return nil, fmt.Errorf("find cgroup2 mount in %s: %w", mountinfo, err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mountpoint, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", mountpoint, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("%s is not a cgroup2 mount", mountpoint)
	}
	id, err := ID(mountpoint)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(mountpoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", mountpoint, err)
	}
	return &FS{mountpoint: mountpoint, root: root, rootID: id, mountFD: fd, procRoot: procRoot}, nil
}

// Close releases the mount's directory.
func (c *FS) Close() error {
	return unix.Close(c.mountFD)
}

// Mountpoint is where the hierarchy is mounted here.
func (c *FS) Mountpoint() string { return c.mountpoint }

// RootID is the id of the cgroup at the mount point: for a process seeing the
// whole hierarchy, the root cgroup, where host processes outside any slice live.
func (c *FS) RootID() uint64 { return c.rootID }

// FindMount returns the mount point and hierarchy root of the first cgroup2
// mount in a mountinfo file, preferring one of the whole hierarchy.
func FindMount(r io.Reader) (mountpoint, root string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		mp, rt := procfs.Unescape(fields[4]), procfs.Unescape(fields[3])
		if rt == "/" {
			return mp, rt, nil
		}
		if mountpoint == "" {
			mountpoint, root = mp, rt
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if mountpoint == "" {
		return "", "", ErrNoCgroup2
	}
	return mountpoint, root, nil
}

// Dir is the directory of the cgroup at hierarchy path p on this mount.
func (c *FS) Dir(p string) (string, error) {
	rel, err := filepath.Rel(c.root, path.Clean("/"+p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("cgroup %s is outside this mount's root %s", p, c.root)
	}
	return filepath.Join(c.mountpoint, rel), nil
}

// ID returns the id of the cgroup at hierarchy path p: the inode of its
// directory.
func (c *FS) ID(p string) (uint64, error) {
	d, err := c.Dir(p)
	if err != nil {
		return 0, err
	}
	return ID(d)
}

// Path returns the hierarchy path of the cgroup with the given id, from the
// id alone: cgroup2 accepts the id as a file handle. ErrGone when the cgroup
// was removed.
func (c *FS) Path(id uint64) (string, error) {
	if id == c.rootID {
		return c.root, nil
	}
	var handle [8]byte
	binary.NativeEndian.PutUint64(handle[:], id)
	fd, err := unix.OpenByHandleAt(c.mountFD, unix.NewFileHandle(fileidKernfs, handle[:]), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return "", ErrGone
	}
	if err != nil {
		return "", fmt.Errorf("open cgroup %d by handle: %w", id, err)
	}
	defer unix.Close(fd)
	dir, err := os.Readlink(filepath.Join(c.procRoot, "self", "fd", strconv.Itoa(fd)))
	if err != nil {
		return "", fmt.Errorf("path of cgroup %d: %w", id, err)
	}
	rel, err := filepath.Rel(c.mountpoint, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("cgroup %d is at %s, outside %s", id, dir, c.mountpoint)
	}
	return path.Join(c.root, rel), nil
}
