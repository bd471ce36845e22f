package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/posture"
)

// How a container became known (Container.Source).
const (
	// SourceEvent: from its /tasks/create (or /tasks/start) event.
	SourceEvent = "event"
	// SourceInventory: listed running when the resolver (re)connected.
	SourceInventory = "inventory"
	// SourceOnDemand: resolved by Lookup from a kernel event's cgroup id,
	// before containerd's event was handled.
	SourceOnDemand = "on-demand"
)

// annotationCRIImageName is the image name as the pod spec gave it, which
// containerd's CRI plugin (1.7+) puts in the OCI spec; Container.Image is
// then the name the user wrote rather than the one containerd stored.
const annotationCRIImageName = "io.kubernetes.cri.image-name"

// maxImageFacts bounds the cache of facts per image target digest.
const maxImageFacts = 1024

// imageFacts are what a container's image target implies; content
// addressed, so cached by target digest for good.
type imageFacts struct {
	config  digest.Digest
	chainID string // identity of the unpacked rootfs: the snapshot parent of containers made from it
}

// loader builds Containers from containerd's records.
type loader struct {
	cg       *cgroup.FS
	procRoot string
	log      *zap.Logger
	m        *metrics

	mu    sync.Mutex
	facts map[digest.Digest]imageFacts
}

// load resolves container id of namespace ns from containerd.
func (l *loader) load(ctx context.Context, cl *client.Client, ns, id string, pid uint32, source string) (*Container, error) {
	ctx = namespaces.WithNamespace(ctx, ns)
	rec, err := cl.ContainerService().Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get container %s/%s: %w", ns, id, err)
	}
	return l.fromRecord(ctx, cl, ns, rec, pid, source)
}

// fromRecord builds the Container of record rec; ctx carries namespace ns.
func (l *loader) fromRecord(ctx context.Context, cl *client.Client, ns string, rec containers.Container, pid uint32, source string) (*Container, error) {
	var spec specs.Spec
	if rec.Spec == nil {
		return nil, fmt.Errorf("container %s/%s has no spec", ns, rec.ID)
	}
	if err := json.Unmarshal(rec.Spec.GetValue(), &spec); err != nil {
		return nil, fmt.Errorf("decode spec of %s/%s: %w", ns, rec.ID, err)
	}
	cgPath, err := l.cgroupPath(&spec, pid)
	if err != nil {
		return nil, fmt.Errorf("cgroup of %s/%s: %w", ns, rec.ID, err)
	}
	cgID, err := l.cg.ID(cgPath)
	if err != nil {
		return nil, fmt.Errorf("cgroup of %s/%s: %w", ns, rec.ID, err)
	}
	c := &Container{
		ID:            rec.ID,
		Namespace:     ns,
		Image:         rec.Image,
		PodName:       rec.Labels[LabelPodName],
		PodNamespace:  rec.Labels[LabelPodNamespace],
		PodUID:        rec.Labels[LabelPodUID],
		ContainerName: rec.Labels[LabelContainerName],
		Sandbox:       rec.Labels[LabelCRIKind] == "sandbox",
		CgroupID:      cgID,
		CgroupPath:    cgPath,
		PID:           pid,
		Source:        source,
		Posture:       posture.Assess(&spec),
	}
	if name := spec.Annotations[annotationCRIImageName]; name != "" {
		c.Image = name
	}
	c.ImageDigest, c.ImageConfigDigest = l.imageDigests(ctx, cl, rec)
	if !c.HasImageDigest() {
		l.m.unknownDigests.Inc()
	}
	return c, nil
}

// cgroupPath is the container's cgroup2 path: from its spec, or, for a
// relative cgroupsPath, from its init process.
func (l *loader) cgroupPath(spec *specs.Spec, pid uint32) (string, error) {
	if spec.Linux == nil {
		return "", errors.New("spec has no linux section")
	}
	p, err := specCgroupPath(spec.Linux.CgroupsPath)
	if errors.Is(err, errRelativeCgroupsPath) && pid != 0 {
		return cgroup.OfProcess(l.procRoot, pid)
	}
	return p, err
}

// imageDigests returns the digests of the container's image, or
// UnknownDigest for what containerd cannot tell: no image of that name any
// more, or a name that now points to an image whose layers are not the
// container's rootfs (the tag moved).
func (l *loader) imageDigests(ctx context.Context, cl *client.Client, rec containers.Container) (target, config string) {
	if rec.Image == "" {
		return UnknownDigest, UnknownDigest
	}
	img, err := cl.ImageService().Get(ctx, rec.Image)
	if err != nil {
		if !errdefs.IsNotFound(err) {
			l.log.Warn("get container image", zap.String(keyContainerID, rec.ID), zap.String(keyImage, rec.Image), zap.Error(err))
		}
		return UnknownDigest, UnknownDigest
	}
	facts, err := l.imageFacts(ctx, cl, img)
	if err != nil {
		// The image record names the target; only its config is unknown.
		l.log.Debug("read image config", zap.String(keyImage, rec.Image), zap.Error(err))
		return img.Target.Digest.String(), UnknownDigest
	}
	if rec.SnapshotKey != "" {
		info, err := cl.SnapshotService(rec.Snapshotter).Stat(ctx, rec.SnapshotKey)
		if err == nil && info.Parent != facts.chainID {
			l.log.Warn("container image name now points to another image; its digest is unknown",
				zap.String(keyContainerID, rec.ID), zap.String(keyImage, rec.Image),
				zap.String(keyImageDigest, img.Target.Digest.String()))
			return UnknownDigest, UnknownDigest
		}
	}
	return img.Target.Digest.String(), facts.config.String()
}

func (l *loader) imageFacts(ctx context.Context, cl *client.Client, img images.Image) (imageFacts, error) {
	l.mu.Lock()
	f, ok := l.facts[img.Target.Digest]
	l.mu.Unlock()
	if ok {
		return f, nil
	}
	cs := cl.ContentStore()
	configDesc, err := img.Config(ctx, cs, platforms.Default())
	if err != nil {
		return imageFacts{}, fmt.Errorf("config of %s: %w", img.Name, err)
	}
	diffIDs, err := images.RootFS(ctx, cs, configDesc)
	if err != nil {
		return imageFacts{}, fmt.Errorf("rootfs of %s: %w", img.Name, err)
	}
	f = imageFacts{config: configDesc.Digest, chainID: identity.ChainID(diffIDs).String()}
	l.mu.Lock()
	if len(l.facts) >= maxImageFacts {
		clear(l.facts)
	}
	l.facts[img.Target.Digest] = f
	l.mu.Unlock()
	return f, nil
}
