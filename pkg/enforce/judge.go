package enforce

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// judgeOpen is the fanotify listener's judge: the open's process, its
// container, and the one judge's verdict on the open. Opens of the runtime
// setting a container up, and of containers not enforced, are let through.
func (c *Controller) judgeOpen(q OpenQuery) OpenAnswer {
	a, _ := c.judgeOpenFrom(q, false)
	return a
}

// cachedOpen is judgeOpen for the listener's read loop, which nothing may
// stall: an answer only when it needs neither the profile's matching nor
// the image check (the verdict cached), nor containerd (the container
// known), nor procfs beyond the open's access (the process's cgroup from
// its pidfd); false: ask judgeOpen.
func (c *Controller) cachedOpen(q OpenQuery) (OpenAnswer, bool) {
	return c.judgeOpenFrom(q, true)
}

func (c *Controller) judgeOpenFrom(q OpenQuery, cachedOnly bool) (OpenAnswer, bool) {
	pass := OpenAnswer{Allowed: true}
	if c.src.Containers == nil || c.cgroupRoot == "" {
		return pass, true
	}
	// The kernel's own record and procfs: the process table may lag behind
	// an open that is waiting for this answer.
	contained, id, err := c.processOf(q.PID, cachedOnly)
	if err != nil || !contained {
		return pass, err == nil || !cachedOnly
	}
	var ctr *containers.Container
	if cachedOnly {
		a, ok := c.src.Containers.Known(id)
		if !ok {
			return OpenAnswer{}, false
		}
		ctr = a.Container
	} else {
		ctr = c.src.Containers.Lookup(context.Background(), id).Container
	}
	if ctr == nil || !ctr.HasImageDigest() {
		return pass, true
	}
	r, ok := c.openRights(id, ctr, q, cachedOnly)
	if !ok {
		return OpenAnswer{}, false
	}
	a := r.answer(q.Access)
	a.Cgroup = id
	return a, true
}

// openRights are the rights over q's file of container ctr (cgroup id),
// from the cache when its profile judged them already; cachedOnly: from the
// cache or not at all (false).
func (c *Controller) openRights(id uint64, ctr *containers.Container, q OpenQuery, cachedOnly bool) (openRights, bool) {
	if q.File == (FileID{}) || c.opens == nil {
		return judgeRights(c.src.Judge, ctr, q), !cachedOnly
	}
	mode, p := c.src.Judge.Mode(ctr)
	k := openKey{cgroup: id, mode: mode.Mode, profile: p, path: q.Path, file: q.File}
	if r, ok := c.opens.get(k); ok {
		return r, true
	}
	if cachedOnly {
		return openRights{}, false
	}
	r := judgeRights(c.src.Judge, ctr, q)
	c.opens.put(k, r)
	return r, true
}

// errNoPidfdCgroup: the kernel tells no cgroup from a pidfd (before 6.13).
var errNoPidfdCgroup = errors.New("no cgroup from the pidfd")

// processOf tells whether process pid runs its container's workload
// (Kernel.Contained) and, when it does, its cgroup2 id: from its pidfd
// (PIDFD_GET_INFO, Linux 6.13+), else from procfs (not when pidfdOnly),
// whose read costs more than the rest of a cached open's answer.
func (c *Controller) processOf(pid int32, pidfdOnly bool) (bool, uint64, error) {
	fd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		return false, 0, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	defer unix.Close(fd)
	contained, err := c.kernel.containedFD(fd, int(pid))
	if err != nil || !contained {
		return false, 0, err
	}
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_CGROUPID}
	if unix.IoctlPidfdInfo(fd, &info) == nil && info.Mask&unix.PIDFD_INFO_CGROUPID != 0 {
		return true, info.Cgroupid, nil
	}
	if pidfdOnly {
		return false, 0, fmt.Errorf("process %d: %w", pid, errNoPidfdCgroup)
	}
	id, err := c.cgroupOf(uint32(pid))
	return true, id, err
}

// cgroupOf is the cgroup2 id of process pid.
func (c *Controller) cgroupOf(pid uint32) (uint64, error) {
	rel, err := cgroup.OfProcess(c.procRoot, pid)
	if err != nil {
		return 0, err
	}
	return cgroup.ID(filepath.Join(c.cgroupRoot, rel))
}

// reportRefusal hands the pipeline an open the fanotify listener refused
// that no system call reports, as the sensor would have reported a refused
// open system call: EPERM, denied, the workload's, access unknown (read).
func (c *Controller) reportRefusal(r OpenRefusal) {
	if c.src.Report == nil {
		return
	}
	c.src.Report(sensor.Event{Type: sensor.TypeOpen, Flags: sensor.FlagDenied | sensor.FlagWorkload, Time: time.Now(),
		PID: uint32(r.PID), TID: uint32(r.TID), CgroupID: r.Cgroup, Comm: r.Comm,
		Open: sensor.Open{Path: r.Path, Ret: -int32(unix.EPERM)}})
}

// OpenQuery is an open the fanotify listener asks about, and what it can
// find out about it when asked.
type OpenQuery struct {
	PID  int32  // the opening process (its thread group)
	Path string // as the container sees it
	// Access is the access the open asks for, read from the waiting
	// thread's system call; 0 when it cannot be told (an io_uring worker's
	// open, a thread gone). Asked only when the profile lets the container
	// open the file for one access and not the other.
	Access func() profile.Access
	// File is the file's identity, which keys the verdict cache; zero:
	// not cached.
	File FileID
	// Image tells whether the file is image content. It costs a look at the
	// container's mounts, so it is asked only when nothing else allows the
	// open (an image entry only ever allows more).
	Image func() bool
}

// OpenAnswer is the fanotify tier's answer to an open.
type OpenAnswer struct {
	Enforced bool // the container is enforced: Allowed is its profile's answer
	Allowed  bool
	// Cacheable: the profile lets the container open the file for reading
	// and for writing, so the listener may let the kernel answer its next
	// opens (an ignore mark covers every access).
	Cacheable bool
	// Cgroup is the process's cgroup2 id, when the judge found its container.
	Cgroup uint64
}

// OpenVerdict is the fanotify tier's answer to an open in ctr, from the one
// judge. Only containers in enforce mode are enforced. An open whose access
// cannot be told is allowed when the profile allows either access.
func OpenVerdict(j Judge, ctr *containers.Container, q OpenQuery) OpenAnswer {
	return judgeRights(j, ctr, q).answer(q.Access)
}

// openRights is what the judge lets a container do with one file: each
// open's answer follows from them and the open's access.
type openRights struct {
	enforced  bool
	cacheable bool // read and write in one open, not as image content: the kernel may answer
	read      bool
	write     bool
	readWrite bool // as image content
}

// judgeRights asks the judge about every access to q's file, the image
// check last: an image entry only ever allows more.
func judgeRights(j Judge, ctr *containers.Container, q OpenQuery) openRights {
	image := false
	allows := func(a profile.Access) profile.Verdict {
		return j.Judge(ctr, profile.Observation{Kind: profile.KindOpen, Path: q.Path, Access: a, Image: image})
	}
	v := allows(profile.AccessReadWrite)
	if v.Mode != profile.ModeEnforce {
		return openRights{}
	}
	if v.Allowed {
		return openRights{enforced: true, cacheable: true}
	}
	r := openRights{enforced: true, read: allows(profile.AccessRead).Allowed, write: allows(profile.AccessWrite).Allowed}
	if !r.read && !r.write && q.Image() {
		image = true
		r.read, r.write, r.readWrite = allows(profile.AccessRead).Allowed, allows(profile.AccessWrite).Allowed, allows(profile.AccessReadWrite).Allowed
	}
	return r
}

// answer is the answer to an open of the file; access is asked only when
// the rights differ by it.
func (r openRights) answer(access func() profile.Access) OpenAnswer {
	switch {
	case !r.enforced:
		return OpenAnswer{Allowed: true}
	case r.cacheable:
		return OpenAnswer{Enforced: true, Allowed: true, Cacheable: true}
	case !r.read && !r.write:
		return OpenAnswer{Enforced: true}
	}
	switch access() {
	case 0:
		return OpenAnswer{Enforced: true, Allowed: true}
	case profile.AccessRead:
		return OpenAnswer{Enforced: true, Allowed: r.read}
	case profile.AccessWrite:
		return OpenAnswer{Enforced: true, Allowed: r.write}
	default:
		return OpenAnswer{Enforced: true, Allowed: r.readWrite}
	}
}
