package deploy

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"

	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// builtImage is an image of the Dockerfile, as deploy/image/build.sh
// wrote it.
type builtImage struct {
	containerdtest.Image
	Entrypoint []string
	User       string
}

// loadImage reads the OCI archive of one of the Dockerfile's images from
// $VIGIL_IMAGE_DIR (default bin/images), where `make image` puts them.
func loadImage(t *testing.T, name string) builtImage {
	t.Helper()
	dir := os.Getenv("VIGIL_IMAGE_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "bin", "images")
	}
	archive := filepath.Join(dir, name+".oci.tar")
	blobs, err := readArchive(archive)
	if err != nil {
		t.Fatalf("image %s: %v (build it with `make image`: buildah, as root)", name, err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(blobs[ocispec.ImageIndexFile], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("%s: index.json with one manifest: %v", archive, err)
	}
	desc := index.Manifests[0]
	var manifest ocispec.Manifest
	if err := json.Unmarshal(blobs[blobPath(desc.Digest)], &manifest); err != nil {
		t.Fatalf("%s: manifest: %v", archive, err)
	}
	var config ocispec.Image
	if err := json.Unmarshal(blobs[blobPath(manifest.Config.Digest)], &config); err != nil {
		t.Fatalf("%s: config: %v", archive, err)
	}
	return builtImage{
		Image: containerdtest.Image{Name: desc.Annotations[ocispec.AnnotationRefName], ManifestDigest: desc.Digest,
			ConfigDigest: manifest.Config.Digest, Cmd: config.Config.Cmd, Tar: archive},
		Entrypoint: config.Config.Entrypoint,
		User:       config.Config.User,
	}
}

func blobPath(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

// readArchive returns the small files of an OCI archive (index, manifests,
// configs), by path.
func readArchive(archive string) (map[string][]byte, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", archive, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			if files[path.Clean(h.Name)], err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("read %s: %w", archive, err)
			}
		}
	}
}

// podHost stands in for what a node gives a pod: a directory for each host
// path, ConfigMap, Secret and PersistentVolumeClaim volume, the node's name.
type podHost struct {
	hostPaths map[string]string // host path in the manifest → directory used instead
	volumes   map[string]string // volume name → directory with its files
	nodeName  string
}

// containerSpec turns a container of a rendered pod spec into what the
// CRI plugin would give runc, as OCI spec options: the user, capabilities,
// no_new_privs, read-only root, RuntimeDefault seccomp, host pid namespace,
// a private cgroup namespace (the CRI plugin's choice for a container that
// is not privileged on a cgroup v2 node), the environment (downward API and
// $(VAR) references resolved) and every volume mount. One thing differs: the
// pod shares the host's network namespace, standing in for a pod network,
// which this machine has none of.
func containerSpec(t *testing.T, pod *corev1.PodSpec, c *corev1.Container, h podHost) []oci.SpecOpts {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatal("only containers that drop every capability are simulated")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Fatal("a privileged container is not simulated")
	}
	caps := []string{}
	for _, c := range sc.Capabilities.Add {
		caps = append(caps, "CAP_"+string(c))
	}
	opts := []oci.SpecOpts{
		oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile,
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}),
		oci.WithCapabilities(caps),
		oci.WithEnv(containerEnv(t, pod, c, h.nodeName)),
	}
	if pod.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if uid, gid := runAs(pod, c); uid != nil {
		opts = append(opts, oci.WithUIDGID(uint32(*uid), uint32(*gid)))
	}
	if psc := pod.SecurityContext; psc != nil && psc.FSGroup != nil {
		opts = append(opts, withAdditionalGID(uint32(*psc.FSGroup)))
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	mounts := volumeMounts(t, pod, c, h)
	dests := make([]string, len(mounts))
	for i, m := range mounts {
		dests[i] = m.Destination
	}
	// The CRI plugin drops a default mount a volume replaces.
	opts = append(opts, oci.WithoutMounts(dests...), oci.WithMounts(mounts))
	if psc := pod.SecurityContext; psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault {
		opts = append(opts, seccomp.WithDefaultProfile()) // last: it depends on the capabilities
	}
	return opts
}

func runAs(pod *corev1.PodSpec, c *corev1.Container) (uid, gid *int64) {
	if psc := pod.SecurityContext; psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
	}
	if c.SecurityContext.RunAsUser != nil {
		uid = c.SecurityContext.RunAsUser
	}
	if c.SecurityContext.RunAsGroup != nil {
		gid = c.SecurityContext.RunAsGroup
	}
	if uid != nil && gid == nil {
		gid = uid
	}
	return uid, gid
}

func withAdditionalGID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, gid)
		return nil
	}
}

func containerEnv(t *testing.T, pod *corev1.PodSpec, c *corev1.Container, nodeName string) []string {
	t.Helper()
	known := map[string]string{}
	var env []string
	for _, e := range c.Env {
		v := expandEnv(e.Value, known)
		if e.ValueFrom != nil {
			v = valueFrom(t, pod, e, nodeName)
		}
		known[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	return env
}

// volumeMounts are the container's volumes as bind mounts, parents first;
// every host path must have a stand-in.
func volumeMounts(t *testing.T, pod *corev1.PodSpec, c *corev1.Container, h podHost) []specs.Mount {
	t.Helper()
	var mounts []specs.Mount
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			t.Fatalf("volume mount %s names no volume", vm.Name)
		}
		v := pod.Volumes[i]
		m := specs.Mount{Destination: vm.MountPath, Type: "bind", Options: []string{"rbind"}}
		switch {
		case v.HostPath != nil:
			src, ok := h.hostPaths[v.HostPath.Path]
			if !ok {
				t.Fatalf("no stand-in for host path %s", v.HostPath.Path)
			}
			m.Source = src
		case v.EmptyDir != nil:
			m = specs.Mount{Destination: vm.MountPath, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}}
		default:
			src, ok := h.volumes[v.Name]
			if !ok {
				t.Fatalf("no content for volume %s", v.Name)
			}
			m.Source = src
		}
		if vm.ReadOnly {
			m.Options = append(m.Options, "ro")
		}
		switch {
		case vm.MountPropagation == nil || *vm.MountPropagation == corev1.MountPropagationNone:
			m.Options = append(m.Options, "rprivate")
		case *vm.MountPropagation == corev1.MountPropagationHostToContainer:
			m.Options = append(m.Options, "rslave")
		default:
			t.Fatalf("volume mount %s: propagation %s not simulated", vm.Name, *vm.MountPropagation)
		}
		mounts = append(mounts, m)
	}
	slices.SortStableFunc(mounts, func(a, b specs.Mount) int {
		return strings.Count(path.Clean(a.Destination), "/") - strings.Count(path.Clean(b.Destination), "/")
	})
	return mounts
}

// writeVolume writes files into a new directory standing in for a
// ConfigMap or Secret volume, with the volume's mode and group.
func writeVolume(t *testing.T, files map[string][]byte, mode os.FileMode, gid int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
