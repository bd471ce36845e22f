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
	"strings"
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
	// Cmd is its default command (entrypoint and arguments).
	Cmd []string
	// Tar is the path of the OCI image-layout tar.
	Tar string
}

// File is one entry of a layer: a regular file (Data), a symlink
// (LinkTarget) or a directory (Dir), owned by UID and GID.
type File struct {
	Path       string // relative to the root, without a leading slash
	Mode       int64
	UID, GID   int
	Data       []byte
	LinkTarget string
	Dir        bool
}

// Layer is one uncompressed layer tar of an image.
type Layer struct {
	// Digest and Size are those of the tar; uncompressed, the digest is
	// also the layer's diff id.
	Digest digest.Digest
	Size   int64
	// Open returns the tar's bytes.
	Open func() (io.ReadCloser, error)
}

// epoch is every timestamp in a layer, so equal inputs give equal digests.
var epoch = time.Unix(0, 0).UTC()

// FilesLayer is the layer of files plus every parent directory they need
// (root-owned, 0755), in path order: same files, same digest.
func FilesLayer(files []File) (Layer, error) {
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
	slices.SortFunc(entries, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	var buf bytes.Buffer
	if err := writeTar(&buf, entries); err != nil {
		return Layer{}, err
	}
	return bytesLayer(buf.Bytes()), nil
}

func bytesLayer(b []byte) Layer {
	return Layer{
		Digest: digest.FromBytes(b), Size: int64(len(b)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

// BuildImage writes the OCI image-layout tar of a one-layer image made of
// files into dir. It is deterministic: same files, same digests.
func BuildImage(dir, name string, files []File, cmd []string) (Image, error) {
	layer, err := FilesLayer(files)
	if err != nil {
		return Image{}, fmt.Errorf("layer: %w", err)
	}
	return WriteImage(filepath.Join(dir, path.Base(name)+".oci.tar"), name, []Layer{layer},
		ocispec.ImageConfig{Env: []string{"PATH=/bin:/"}, Cmd: cmd})
}

// WriteImage writes to file the OCI image-layout tar of the image name made
// of layers (bottom first) and run as cfg says. Layers are streamed, not
// held in memory. Equal inputs give equal digests.
func WriteImage(file, name string, layers []Layer, cfg ocispec.ImageConfig) (Image, error) {
	diffIDs := make([]digest.Digest, len(layers))
	layerDescs := make([]ocispec.Descriptor, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.Digest
		layerDescs[i] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.Digest, Size: l.Size}
	}
	config, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		return Image{}, fmt.Errorf("config: %w", err)
	}
	configDesc := descriptor(ocispec.MediaTypeImageConfig, config)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    layerDescs,
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

	blobs := []Layer{bytesLayer(config), bytesLayer(manifest)}
	blobs = append(blobs, layers...)
	if err := writeLayout(file, layout, index, blobs); err != nil {
		return Image{}, err
	}
	return Image{
		Name:           name,
		ManifestDigest: manifestDesc.Digest,
		ConfigDigest:   configDesc.Digest,
		Cmd:            append(slices.Clone(cfg.Entrypoint), cfg.Cmd...),
		Tar:            file,
	}, nil
}

// writeLayout writes the layout tar: oci-layout, index.json, then each blob
// under blobs/sha256, checking that it has the size its descriptor says.
func writeLayout(file string, layout, index []byte, blobs []Layer) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := writeTarFiles(tw, []File{
		{Path: ocispec.ImageLayoutFile, Mode: 0o644, Data: layout},
		{Path: ocispec.ImageIndexFile, Mode: 0o644, Data: index},
	}); err != nil {
		return err
	}
	for _, b := range blobs {
		if err := writeBlob(tw, b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", file, err)
	}
	return nil
}

func writeBlob(tw *tar.Writer, b Layer) error {
	name := path.Join("blobs", "sha256", b.Digest.Encoded())
	r, err := b.Open()
	if err != nil {
		return fmt.Errorf("open blob %s: %w", b.Digest, err)
	}
	defer r.Close()
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: b.Size, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("header %s: %w", name, err)
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("write blob %s (%d of %d bytes): %w", b.Digest, n, b.Size, err)
	}
	return nil
}

func descriptor(mediaType string, blob []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
}

func writeTar(w io.Writer, entries []File) error {
	tw := tar.NewWriter(w)
	if err := writeTarFiles(tw, entries); err != nil {
		return err
	}
	return tw.Close()
}

func writeTarFiles(tw *tar.Writer, entries []File) error {
	for _, f := range entries {
		hdr := &tar.Header{Name: f.Path, Mode: f.Mode, Uid: f.UID, Gid: f.GID, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, f.Path+"/"
		case f.LinkTarget != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.LinkTarget
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("header %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return nil
}
