// Package trace is the public form of an enriched event (enrich.Record):
// the JSON schema that `vigil-agent trace --json` prints (stable: fields are
// added, never renamed or removed) and a readable one-line form.
package trace

import (
	"strconv"
	"time"

	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// JSON is the schema of one line of `vigil-agent trace --json`. README.md
// documents every field.
type JSON struct {
	Type     string     `json:"type"`
	Time     time.Time  `json:"time"`
	PID      uint32     `json:"pid"`
	TID      uint32     `json:"tid"`
	PPID     uint32     `json:"ppid"`
	UID      uint32     `json:"uid"`
	EUID     uint32     `json:"euid"`
	GID      uint32     `json:"gid"`
	Comm     string     `json:"comm"`
	CgroupID uint64     `json:"cgroup_id"`
	MntNS    uint32     `json:"mntns"`
	Ancestry []Ancestor `json:"ancestry"`
	// Attribution is "host", "container" or "unattributed" (in a container's
	// cgroup, but the container could not be resolved: see AttributionReason).
	Attribution       string `json:"attribution"`
	AttributionReason string `json:"attribution_reason,omitempty"`
	// Enforcement is what the kernel did: "killed" or "denied"; absent
	// when it let the action happen.
	Enforcement string          `json:"enforcement,omitempty"`
	Container   *ContainerJSON  `json:"container,omitempty"`
	Exec        *ExecJSON       `json:"exec,omitempty"`
	Open        *OpenJSON       `json:"open,omitempty"`
	Connect     *ConnectJSON    `json:"connect,omitempty"`
	Capability  *CapabilityJSON `json:"capability,omitempty"`
	IoUring     *IoUringJSON    `json:"io_uring,omitempty"`
	Fork        *ForkJSON       `json:"fork,omitempty"`
	Exit        *ExitJSON       `json:"exit,omitempty"`
}

// ContainerJSON is the container an event came from.
type ContainerJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"` // the Kubernetes container name
	Image       string `json:"image"`
	ImageDigest string `json:"image_digest"` // "unknown" when containerd cannot tell
	Pod         string `json:"pod,omitempty"`
	Namespace   string `json:"namespace,omitempty"` // the pod's Kubernetes namespace
	PodUID      string `json:"pod_uid,omitempty"`
	Runtime     string `json:"containerd_namespace"`
}

// Ancestor is one process of an event's ancestry.
type Ancestor struct {
	PID  uint32 `json:"pid"`
	Comm string `json:"comm"`
	Path string `json:"path,omitempty"`
}

// InodeJSON identifies a file.
type InodeJSON struct {
	Dev string `json:"dev"` // "major:minor"
	Ino uint64 `json:"ino"`
}

// ExecJSON is the exec part of an event.
type ExecJSON struct {
	Path     string    `json:"path"`
	Filename string    `json:"filename"`
	Argv     []string  `json:"argv"`
	Argc     uint32    `json:"argc"`
	Inode    InodeJSON `json:"inode"`
	Flags    []string  `json:"flags"`
}

// OpenJSON is the open part of an event.
type OpenJSON struct {
	Path           string    `json:"path"`
	Flags          []string  `json:"flags"`
	Ret            int32     `json:"ret"`
	Inode          InodeJSON `json:"inode"`
	PathTruncated  bool      `json:"path_truncated,omitempty"`
	PathUnresolved bool      `json:"path_unresolved,omitempty"`
	PathDetached   bool      `json:"path_detached,omitempty"`
	CompatSyscall  bool      `json:"compat_syscall,omitempty"`
}

// ConnectJSON is the connect part of an event.
type ConnectJSON struct {
	Family        string `json:"family"`
	Address       string `json:"address,omitempty"`
	Port          uint16 `json:"port,omitempty"`
	UnixPath      string `json:"unix_path,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
	SockType      string `json:"sock_type,omitempty"`
	Ret           int32  `json:"ret"`
	CompatSyscall bool   `json:"compat_syscall,omitempty"`
}

// CapabilityJSON is the capability part of an event.
type CapabilityJSON struct {
	Cap     int32  `json:"cap"`
	Name    string `json:"name"`
	Granted bool   `json:"granted"`
}

// IoUringJSON is the io_uring part of an event: Op is the request's opcode,
// or 255 for setting up a ring; Name as profiles spell it (OPENAT, SETUP).
type IoUringJSON struct {
	Op   uint8  `json:"op"`
	Name string `json:"name"`
}

// ForkJSON is the fork part of an event.
type ForkJSON struct {
	ChildPID      uint32 `json:"child_pid"`
	ChildCgroupID uint64 `json:"child_cgroup_id"`
}

// ExitJSON is the exit part of an event.
type ExitJSON struct {
	Code   int `json:"code"`
	Signal int `json:"signal"`
}

func inode(i sensor.Inode) InodeJSON {
	return InodeJSON{Dev: strconv.FormatUint(uint64(i.Major()), 10) + ":" + strconv.FormatUint(uint64(i.Minor()), 10), Ino: i.Ino}
}

// ToJSON converts a record to its public schema.
func ToJSON(r *enrich.Record) JSON {
	ev := r.Event
	j := JSON{
		Type: ev.Type.String(), Time: ev.Time,
		PID: ev.PID, TID: ev.TID, PPID: ev.PPID,
		UID: ev.UID, EUID: ev.EUID, GID: ev.GID,
		Comm: ev.Comm, CgroupID: ev.CgroupID, MntNS: ev.MntNS,
		Ancestry: make([]Ancestor, len(r.Ancestry)),
	}
	for i, p := range r.Ancestry {
		j.Ancestry[i] = Ancestor{PID: p.PID, Comm: p.Comm, Path: p.Path}
	}
	j.Enforcement = r.Enforcement().String()
	j.Attribution = r.Attribution.Kind.String()
	j.AttributionReason = r.Attribution.Reason
	if c := r.Attribution.Container; c != nil {
		j.Container = &ContainerJSON{ID: c.ID, Name: c.ContainerName, Image: c.Image, ImageDigest: c.ImageDigest,
			Pod: c.PodName, Namespace: c.PodNamespace, PodUID: c.PodUID, Runtime: c.Namespace}
	}
	compat := r.CompatSyscall()
	switch ev.Type {
	case sensor.TypeExec:
		j.Exec = &ExecJSON{Path: ev.Exec.Path, Filename: ev.Exec.Filename, Argv: ev.Exec.Argv, Argc: ev.Exec.Argc,
			Inode: inode(ev.Exec.Inode), Flags: r.ExecFlags()}
	case sensor.TypeOpen:
		j.Open = &OpenJSON{Path: ev.Open.Path, Flags: ev.Open.Flags.Names(), Ret: ev.Open.Ret, Inode: inode(ev.Open.Inode),
			PathTruncated: r.PathTruncated(), PathUnresolved: r.PathUnresolved(),
			PathDetached: r.PathDetached(), CompatSyscall: compat}
	case sensor.TypeConnect:
		c := ev.Connect
		j.Connect = &ConnectJSON{Family: c.Family.String(), Port: c.Port, UnixPath: c.UnixPath,
			Protocol: c.Protocol.String(), SockType: c.SockType.String(), Ret: c.Ret, CompatSyscall: compat}
		if c.Addr.IsValid() {
			j.Connect.Address = c.Addr.String()
		}
	case sensor.TypeCapability:
		j.Capability = &CapabilityJSON{Cap: ev.Capability.Cap, Name: ev.Capability.Name(), Granted: ev.Capability.Granted()}
	case sensor.TypeIoUring:
		j.IoUring = &IoUringJSON{Op: ev.IoUring.Op, Name: profile.IoUringOp(ev.IoUring.Op).String()}
	case sensor.TypeFork:
		j.Fork = &ForkJSON{ChildPID: ev.Fork.ChildPID, ChildCgroupID: ev.Fork.ChildCgroupID}
	case sensor.TypeExit:
		j.Exit = &ExitJSON{Code: ev.Exit.Code(), Signal: ev.Exit.Signal()}
	}
	return j
}
