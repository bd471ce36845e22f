package enforce

import (
	"context"
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
	pass := OpenAnswer{Allowed: true}
	pid := q.PID
	if c.src.Containers == nil || c.cgroupRoot == "" {
		return pass
	}
	// The kernel's own record and procfs: the process table may lag behind
	// an open that is waiting for this answer.
	contained, err := c.kernel.Contained(int(pid))
	if err != nil || !contained {
		return pass
	}
	id, err := c.cgroupOf(uint32(pid))
	if err != nil {
		return pass
	}
	ctr := c.src.Containers.Lookup(context.Background(), id).Container
	if ctr == nil || !ctr.HasImageDigest() {
		return pass
	}
	a := OpenVerdict(c.src.Judge, ctr, q)
	a.Cgroup = id
	return a
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
	image := false
	allows := func(a profile.Access) profile.Verdict {
		return j.Judge(ctr, profile.Observation{Kind: profile.KindOpen, Path: q.Path, Access: a, Image: image})
	}
	v := allows(profile.AccessReadWrite)
	if v.Mode != profile.ModeEnforce {
		return OpenAnswer{Allowed: true}
	}
	if v.Allowed {
		return OpenAnswer{Enforced: true, Allowed: true, Cacheable: true}
	}
	read, write := allows(profile.AccessRead).Allowed, allows(profile.AccessWrite).Allowed
	if !read && !write && q.Image() {
		image = true
		read, write = allows(profile.AccessRead).Allowed, allows(profile.AccessWrite).Allowed
	}
	if !read && !write {
		return OpenAnswer{Enforced: true}
	}
	if a := q.Access(); a != 0 {
		return OpenAnswer{Enforced: true, Allowed: allows(a).Allowed}
	}
	return OpenAnswer{Enforced: true, Allowed: true}
}
