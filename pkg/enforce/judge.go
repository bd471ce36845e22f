package enforce

import (
	"context"
	"path/filepath"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// judgeOpen is the fanotify listener's judge: the open's process, its
// container, and the one judge's verdict on the open. Opens of the runtime
// setting a container up, and of containers not enforced, are let through.
func (c *Controller) judgeOpen(pid int32, path string, image func() bool) (enforced, allowed bool) {
	if c.src.Containers == nil || c.cgroupRoot == "" {
		return false, true
	}
	// The kernel's own record and procfs: the process table may lag behind
	// an open that is waiting for this answer.
	contained, err := c.kernel.Contained(int(pid))
	if err != nil || !contained {
		return false, true
	}
	rel, err := cgroup.OfProcess(c.procRoot, uint32(pid))
	if err != nil {
		return false, true
	}
	id, err := cgroup.ID(filepath.Join(c.cgroupRoot, rel))
	if err != nil {
		return false, true
	}
	ctr := c.src.Containers.Lookup(context.Background(), id).Container
	if ctr == nil || !ctr.HasImageDigest() {
		return false, true
	}
	return OpenVerdict(c.src.Judge, ctr, path, image)
}

// OpenVerdict is the fanotify tier's answer to an open of path in ctr. The
// listener cannot tell read from write: the one judge decides the open
// with its access unknown. Only containers in enforce mode are enforced.
// image tells whether the file is image content; it costs a look at the
// container's mounts, so it is asked only of an open the profile does not
// allow otherwise (an image entry only ever allows more).
func OpenVerdict(j Judge, ctr *containers.Container, path string, image func() bool) (enforced, allowed bool) {
	o := profile.Observation{Kind: profile.KindOpen, Path: path}
	v := j.Judge(ctr, o)
	if v.Mode != profile.ModeEnforce {
		return false, true
	}
	if !v.Allowed && image() {
		o.Image = true
		v = j.Judge(ctr, o)
	}
	return true, v.Allowed
}
