package containers

import (
	"time"

	"github.com/vigil-dev/vigil/pkg/posture"
)

// UnknownDigest stands for an image digest (or config digest) containerd
// could not tell: the image was deleted, or its name now points to another
// image than the container's. A name (tag) is never used in its place.
const UnknownDigest = "unknown"

// CRI labels: the Kubernetes identity the CRI plugin puts on containers.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// LabelCRIKind is "sandbox" on a pod's sandbox (pause) container.
	LabelCRIKind = "io.cri-containerd.kind"
)

// Container is what the resolver knows of one container's task. It is
// shared by every Lookup that finds it and must not be modified.
type Container struct {
	// ID is the containerd container id.
	ID string
	// Namespace is the containerd namespace ("k8s.io" for Kubernetes).
	Namespace string
	// Image is the image name the container was created from.
	Image string
	// ImageDigest is the digest of the image's target: its manifest (or, for
	// a multi-platform image, its index: the digest `image@sha256:…` pins),
	// or UnknownDigest.
	ImageDigest string
	// ImageConfigDigest is the digest of the image config (the image id) for
	// this node's platform, or UnknownDigest.
	ImageConfigDigest string

	// Kubernetes identity, from the CRI labels; empty outside Kubernetes.
	PodName       string
	PodNamespace  string
	PodUID        string
	ContainerName string
	// Sandbox is set on a pod's sandbox (pause) container.
	Sandbox bool

	// CgroupID is the id of the container's cgroup2 directory (its inode),
	// the value of bpf_get_current_cgroup_id in the container's processes.
	CgroupID uint64
	// CgroupPath is that directory's path in the cgroup2 hierarchy.
	CgroupPath string
	// Scope is the small id the kernel-side ScopeTable maps CgroupID to; it
	// stays the same for the container's life, across task restarts.
	Scope uint32
	// PID is the task's init process as containerd reported it (host pid).
	PID uint32

	// CreatedAt is when containerd published the task's /tasks/create event;
	// zero when the container was found otherwise (inventory, on demand).
	CreatedAt time.Time
	// KnownAt is when the resolver learned the container.
	KnownAt time.Time
	// Source says how: SourceEvent, SourceInventory or SourceOnDemand.
	Source string

	// Posture is what its OCI runtime spec lets it do beyond least
	// privilege.
	Posture posture.Report
}

// HasImageDigest reports whether ImageDigest is a digest.
func (c *Container) HasImageDigest() bool {
	return c.ImageDigest != UnknownDigest
}

// Kind is what Lookup found a cgroup id to be.
type Kind uint8

// The kinds of attribution. The zero Kind is invalid, so a forgotten
// Attribution cannot pass for any of them.
const (
	// Host: the process runs in no container.
	Host Kind = iota + 1
	// InContainer: the process runs in Attribution.Container.
	InContainer
	// Unattributed: the process runs in what looks like a container's cgroup
	// but the container cannot be resolved. Counted; never dropped.
	Unattributed
)

func (k Kind) String() string {
	switch k {
	case Host:
		return "host"
	case InContainer:
		return "container"
	case Unattributed:
		return "unattributed"
	}
	return "invalid"
}

// Attribution is the result of a Lookup.
type Attribution struct {
	Kind Kind
	// Container is set when Kind is InContainer.
	Container *Container
	// CgroupPath is the cgroup's path when Kind is Unattributed and the path
	// could be found, for the alert to show where the process was.
	CgroupPath string
	// Reason says why when Kind is Unattributed (the metric's reason label).
	Reason string
}

// MaybeKnownContainer reports whether an Unattributed event may come from a
// container containerd knows, one whose image is being learned: not when
// containerd was asked and has no such container (another runtime's).
func (a Attribution) MaybeKnownContainer() bool {
	return a.Kind == Unattributed && a.Reason != reasonUnresolved
}
