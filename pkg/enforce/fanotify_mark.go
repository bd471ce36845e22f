package enforce

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/procfs"
)

// A container's mounts are marked through descriptors, never through
// paths: each mount is opened (O_PATH) from the container's own root, its
// id checked against the mounts of the host's namespaces and of the other
// containers marked, marked through that descriptor, and the descriptor is
// kept. It keeps the mount, and so its id, from being freed while marked;
// the mark is removed through it when the container goes, however long ago
// its processes exited.

// Why a process's mounts are not marked.
var (
	// errNotContained: the process is not yet in a mount namespace of its
	// own, pivoted into its root (runc is still setting the container up),
	// or no longer alive. Another process of the container, or the same one
	// a little later, will do.
	errNotContained = errors.New("not in a container's own mount namespace")
	// errHostMount: a mount to mark is one of the host's.
	errHostMount = errors.New("a host mount")
	// errSharedMount: a mount to mark is marked for another container.
	errSharedMount = errors.New("another container's mount")
)

// markedMount is one mount marked for a container.
type markedMount struct {
	id    uint64 // mount id
	fd    int    // O_PATH descriptor of the mount's root
	point string // as the container sees it, for logs
}

const fanotifyOpenMask = unix.FAN_OPEN_PERM | unix.FAN_OPEN_EXEC_PERM

// Mark puts every mount of the container (its root and volumes; not proc,
// sysfs and other pseudo filesystems) under the listener, reached through
// process pid; workload says pid runs the container's workload (it exec'd
// in the container's namespace, which runc does only once it has pivoted
// into the container's root). It refuses with errNotContained when pid is
// not in a pivoted mount namespace of its own, and with errHostMount or
// errSharedMount when a mount it would mark is the host's or another
// container's: nothing is marked then.
func (f *Fanotify) Mark(scope uint32, pid uint32, workload bool) error {
	host, err := f.hostMounts()
	if err != nil {
		return err
	}
	pidfd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		return fmt.Errorf("process %d: %w", pid, errNotContained)
	}
	defer unix.Close(pidfd)
	rootfd, err := f.ownRoot(pid, workload, host)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	mounts, err := procfs.Mounts(f.procRoot, pid)
	if err != nil {
		return fmt.Errorf("container mounts: %w", err)
	}
	// Alive after its root and mounts were read: they were its, not those
	// of a process that took its pid.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return fmt.Errorf("process %d exited: %w", pid, errNotContained)
	}
	var marks []markedMount
	closeAll := func() {
		for _, m := range marks {
			unix.Close(m.fd)
		}
	}
	for _, m := range mounts {
		if pseudoFS[m.FSType] {
			continue
		}
		mm, ok, err := openMount(rootfd, m)
		if err != nil {
			closeAll()
			return err
		}
		if ok {
			marks = append(marks, mm)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range marks {
		if err := f.refuseLocked(scope, m, host); err != nil {
			closeAll()
			return err
		}
	}
	if err := f.addLocked(scope, marks); err != nil {
		closeAll()
		return err
	}
	return nil
}

// ownRoot opens process pid's root when it is a container's: in a mount
// namespace other than the host's and the runtime's, on a mount that is
// not the host's, and, unless it runs the workload, pivoted: runc makes the
// namespace a copy of the host's, whose root is the host's root directory,
// before it pivots.
func (f *Fanotify) ownRoot(pid uint32, workload bool, host map[uint64]bool) (int, error) {
	ns, err := procfs.MountNamespace(f.procRoot, pid)
	if err != nil {
		return -1, fmt.Errorf("process %d: %w", pid, errNotContained)
	}
	if ns == f.runtimeNS || f.hostNS[ns] {
		return -1, fmt.Errorf("process %d in the host's mount namespace: %w", pid, errNotContained)
	}
	fd, err := unix.Open(filepath.Join(procfs.Dir(f.procRoot, pid), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("root of process %d: %w", pid, errNotContained)
	}
	id, dev, ino, err := mountOf(fd)
	if err == nil && (host[id] || (!workload && f.hostRoots[[2]uint64{dev, ino}])) {
		err = fmt.Errorf("process %d not yet pivoted into its root: %w", pid, errNotContained)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// openMount opens mount m from the container's root; ok is false when
// another mount hides it at its mount point (the one on top is marked) or
// its mount point no longer resolves (no path of the container reaches it).
func openMount(rootfd int, m procfs.Mount) (markedMount, bool, error) {
	fd, err := unix.Openat2(rootfd, m.Point, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if errors.Is(err, unix.ENOENT) {
		return markedMount{}, false, nil
	}
	if err != nil {
		return markedMount{}, false, fmt.Errorf("open mount %s: %w", m.Point, err)
	}
	id, _, _, err := mountOf(fd)
	if err != nil || id != m.ID {
		unix.Close(fd)
		return markedMount{}, false, err
	}
	return markedMount{id: id, fd: fd, point: m.Point}, true, nil
}

// mountOf is the id of the mount fd is on, and fd's device and inode.
func mountOf(fd int) (id, dev, ino uint64, err error) {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID|unix.STATX_INO, &st); err != nil {
		return 0, 0, 0, fmt.Errorf("statx: %w", err)
	}
	return st.Mnt_id, unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino, nil
}

// refuseLocked says why m must not be marked for scope, if it must not.
// Callers hold mu.
func (f *Fanotify) refuseLocked(scope uint32, m markedMount, host map[uint64]bool) error {
	if host[m.id] {
		return fmt.Errorf("mount %s (id %d): %w", m.point, m.id, errHostMount)
	}
	for other, ms := range f.marks {
		if other == scope {
			continue
		}
		for _, o := range ms {
			if o.id == m.id {
				return fmt.Errorf("mount %s (id %d) of scope %d: %w", m.point, m.id, other, errSharedMount)
			}
		}
	}
	return nil
}

// addLocked marks mounts for scope, which takes their descriptors; on error
// none stays marked and the caller closes them. Callers hold mu.
func (f *Fanotify) addLocked(scope uint32, mounts []markedMount) error {
	if len(f.marks[scope]) > 0 {
		return fmt.Errorf("scope %d is marked already", scope)
	}
	for i, m := range mounts {
		if err := f.mark(unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT, fanotifyOpenMask, unix.AT_FDCWD, f.fdPath(m.fd)); err != nil {
			for _, done := range mounts[:i] {
				f.removeMark(done)
			}
			return fmt.Errorf("fanotify mark %s: %w", m.point, err)
		}
	}
	points := make([]string, len(mounts))
	for i, m := range mounts {
		points[i] = m.point
	}
	f.log.Debug("fanotify marks", zap.Uint32("scope", scope), zap.Strings("mounts", points))
	f.marks[scope] = mounts
	return nil
}

// Marked reports whether scope's mounts are marked.
func (f *Fanotify) Marked(scope uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.marks[scope]) > 0
}

// Unmark stops judging a container's opens: its marks are removed, live
// mounts or not, and their descriptors closed.
func (f *Fanotify) Unmark(scope uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.marks[scope] {
		f.removeMark(m)
		unix.Close(m.fd)
	}
	delete(f.marks, scope)
}

func (f *Fanotify) removeMark(m markedMount) {
	// A group closed already took its marks along.
	_ = f.mark(unix.FAN_MARK_REMOVE|unix.FAN_MARK_MOUNT, fanotifyOpenMask, unix.AT_FDCWD, f.fdPath(m.fd))
}

// fdPath names one of this process's descriptors by its link in procfs:
// fanotify_mark takes no O_PATH descriptor as the object itself, but
// resolves the link to the very mount and directory it holds.
func (f *Fanotify) fdPath(fd int) string {
	return filepath.Join(f.procRoot, "self", "fd", strconv.Itoa(fd))
}

// hostMounts are the ids of the mounts of the host's namespaces: the
// initial one and this agent's. A container's own namespace never holds
// one.
func (f *Fanotify) hostMounts() (map[uint64]bool, error) {
	ids := map[uint64]bool{}
	for _, pid := range f.hostPIDs {
		mounts, err := procfs.Mounts(f.procRoot, pid)
		if err != nil {
			return nil, fmt.Errorf("host mounts: %w", err)
		}
		for _, m := range mounts {
			ids[m.ID] = true
		}
	}
	return ids, nil
}

// hostSide finds the processes that show the host's side: kthreadd (pid 2;
// kernel threads live in the initial mount namespace), or init where
// kthreadd is not visible, and this agent. It reads their mount namespaces
// and root directories (device, inode), which a container's process has
// left once it runs in its own root.
func hostSide(procRoot string) (pids []uint32, nss map[uint32]bool, roots map[[2]uint64]bool, err error) {
	nss, roots = map[uint32]bool{}, map[[2]uint64]bool{}
	var initErr error
	for _, pid := range []uint32{2, 1, uint32(os.Getpid())} {
		if pid == 1 && len(pids) > 0 {
			continue // kthreadd answered for the initial namespace
		}
		ns, err := procfs.MountNamespace(procRoot, pid)
		var st unix.Stat_t
		if err == nil {
			err = unix.Stat(filepath.Join(procfs.Dir(procRoot, pid), "root"), &st)
		}
		if err != nil {
			initErr = errors.Join(initErr, fmt.Errorf("process %d: %w", pid, err))
			continue
		}
		pids = append(pids, pid)
		nss[ns] = true
		roots[[2]uint64{st.Dev, st.Ino}] = true
	}
	if len(pids) < 2 {
		return nil, nil, nil, fmt.Errorf("the host's mount namespace and root: %w", initErr)
	}
	return pids, nss, roots, nil
}
