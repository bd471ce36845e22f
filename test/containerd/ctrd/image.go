package ctrd

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is an image built as an OCI image-layout tar.
type Image struct {
	// Name is the reference it is imported under (io.containerd.image.name).
	Name string
	// ManifestDigest is the digest of its manifest: what containerd reports
	// as the image's target digest after import.
	ManifestDigest digest.Digest
	// ConfigDigest is the digest of its config blob (the image id).
	ConfigDigest digest.Digest
	// Cmd is its default command.
	Cmd []string
	// Tar is the path of the OCI image-layout tar.
	Tar string
}

// File is one entry of a layer: a regular file (Data), a symlink
// (LinkTarget) or a directory (Dir).
type File struct {
	Path       string // relative to the root, without a leading slash
	Mode       int64
	Data       []byte
	LinkTarget string
	Dir        bool
}

// epoch is every timestamp in a layer, so equal inputs give equal digests.
var epoch = time.Unix(0, 0).UTC()

// BuildImage writes the OCI image-layout tar of a one-layer image made of
// files into dir. It is deterministic: same files, same digests.
func BuildImage(dir, name string, files []File, cmd []string) (Image, error) {
	layer, err := layerTar(files)
	if err != nil {
		return Image{}, fmt.Errorf("layer: %w", err)
	}
	layerDigest := digest.FromBytes(layer)
	config, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config: ocispec.ImageConfig{
			Env: []string{"PATH=/bin:/"},
			Cmd: cmd,
		},
		// Uncompressed layer: the diff id is the layer digest.
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDigest}},
	})
	if err != nil {
		return Image{}, fmt.Errorf("config: %w", err)
	}
	configDesc := descriptor(ocispec.MediaTypeImageConfig, config)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{descriptor(ocispec.MediaTypeImageLayer, layer)},
	})
	if err != nil {
		return Image{}, fmt.Errorf("manifest: %w", err)
	}
	manifestDesc := descriptor(ocispec.MediaTypeImageManifest, manifest)
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name": name,
		ocispec.AnnotationRefName:  path.Base(name),
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	})
	if err != nil {
		return Image{}, fmt.Errorf("index: %w", err)
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return Image{}, fmt.Errorf("oci-layout: %w", err)
	}

	entries := []File{
		{Path: ocispec.ImageLayoutFile, Mode: 0o644, Data: layout},
		{Path: ocispec.ImageIndexFile, Mode: 0o644, Data: index},
	}
	for _, blob := range [][]byte{layer, config, manifest} {
		entries = append(entries, File{
			Path: path.Join("blobs", "sha256", digest.FromBytes(blob).Encoded()), Mode: 0o644, Data: blob,
		})
	}
	archive, err := tarOf(entries)
	if err != nil {
		return Image{}, fmt.Errorf("layout tar: %w", err)
	}
	tarPath := filepath.Join(dir, path.Base(name)+".oci.tar")
	if err := os.WriteFile(tarPath, archive, 0o644); err != nil {
		return Image{}, fmt.Errorf("write %s: %w", tarPath, err)
	}
	return Image{
		Name:           name,
		ManifestDigest: manifestDesc.Digest,
		ConfigDigest:   configDesc.Digest,
		Cmd:            cmd,
		Tar:            tarPath,
	}, nil
}

func descriptor(mediaType string, blob []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
}

// layerTar is a layer of files plus every parent directory they need, in
// path order.
func layerTar(files []File) ([]byte, error) {
	all := map[string]File{}
	for _, f := range files {
		all[f.Path] = f
		for d := path.Dir(f.Path); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = File{Path: d, Mode: 0o755, Dir: true}
			}
		}
	}
	entries := make([]File, 0, len(all))
	for _, f := range all {
		entries = append(entries, f)
	}
	slices.SortFunc(entries, func(a, b File) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return tarOf(entries)
}

func tarOf(entries []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range entries {
		hdr := &tar.Header{Name: f.Path, Mode: f.Mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, f.Path+"/"
		case f.LinkTarget != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.LinkTarget
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("header %s: %w", f.Path, err)
		}
		if _, err := io.Copy(tw, bytes.NewReader(f.Data)); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
