package appimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vigil-dev/vigil/test/cachedir"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// CacheEnv overrides the cache directory.
const CacheEnv = "VIGIL_APPS_CACHE"

// BuildTimeout bounds one mmdebstrap run: a package set of a few hundred
// MiB builds in 2–3 minutes here, most of it downloading.
const BuildTimeout = 10 * time.Minute

// Recipe is an image of real software: Debian packages plus the
// application's own files.
type Recipe struct {
	// Name is the reference the image is imported under.
	Name string
	// Packages are installed, with what they depend on, into the first
	// layer.
	Packages []string
	// Files are the second layer: configuration, the application, its data.
	Files []ctrd.File
	// Config is how the image runs (entrypoint, user, environment).
	Config ocispec.ImageConfig
}

// Built is an image made by Build.
type Built struct {
	ctrd.Image
	// Files holds the absolute path of every regular file, hard link and
	// symlink the image ships, in either layer.
	Files map[string]bool
	// RootfsBuild is how long mmdebstrap took; zero when the root
	// filesystem came from the cache.
	RootfsBuild time.Duration
}

// DefaultCacheDir is $VIGIL_APPS_CACHE, else /var/cache/vigil-apps for root
// (shared by every checkout on the machine), else the user's cache.
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir, nil
	}
	return cachedir.Default("vigil-apps")
}

// Build writes r's image into outDir, building its root filesystem into
// cacheDir unless it is there already. Concurrent builds of one package set
// (go test runs packages in parallel) wait for each other and build it once.
func Build(ctx context.Context, cacheDir string, r Recipe, outDir string) (Built, error) {
	root, took, err := cachedRootfs(ctx, cacheDir, r.Packages)
	if err != nil {
		return Built{}, err
	}
	app, err := ctrd.FilesLayer(r.Files)
	if err != nil {
		return Built{}, fmt.Errorf("application layer of %s: %w", r.Name, err)
	}
	base := ctrd.Layer{Digest: root.Digest, Size: root.Size,
		Open: func() (io.ReadCloser, error) { return os.Open(root.Path) }}
	img, err := ctrd.WriteImage(filepath.Join(outDir, path.Base(r.Name)+".oci.tar"), r.Name,
		[]ctrd.Layer{base, app}, r.Config)
	if err != nil {
		return Built{}, fmt.Errorf("image %s: %w", r.Name, err)
	}
	files := make(map[string]bool, len(root.Files)+len(r.Files))
	for _, f := range root.Files {
		files[f] = true
	}
	for _, f := range r.Files {
		if !f.Dir {
			files[path.Clean("/"+f.Path)] = true
		}
	}
	return Built{Image: img, Files: files, RootfsBuild: took}, nil
}

// cachedRootfs returns the cached rootfs of packages, building it first
// when the cache lacks it, and how long building took (zero on a hit).
func cachedRootfs(ctx context.Context, cacheDir string, packages []string) (rootfs, time.Duration, error) {
	entry := "rootfs-" + rootfsKey(packages)
	unlock, err := cachedir.LockEntry(cacheDir, entry)
	if err != nil {
		return rootfs{}, 0, err
	}
	defer unlock()
	file := filepath.Join(cacheDir, entry+".tar")
	fs, err := loadIndex(file)
	if err == nil {
		return fs, 0, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return rootfs{}, 0, fmt.Errorf("cached rootfs %s (remove it to rebuild): %w", file, err)
	}
	start := time.Now()
	bctx, cancel := context.WithTimeoutCause(ctx, BuildTimeout, fmt.Errorf("build took longer than %s", BuildTimeout))
	defer cancel()
	tmp := filepath.Join(cacheDir, entry+".new.tar")
	defer os.Remove(tmp)
	if err := buildRootfs(bctx, packages, tmp); err != nil {
		return rootfs{}, 0, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return rootfs{}, 0, fmt.Errorf("rename rootfs into the cache: %w", err)
	}
	if fs, err = indexRootfs(file); err != nil {
		return rootfs{}, 0, err
	}
	if err := saveIndex(fs); err != nil {
		return rootfs{}, 0, err
	}
	return fs, time.Since(start), nil
}

// Prepare builds the root filesystems of recipes the cache lacks, all at
// once (mmdebstrap mostly waits on downloads), and returns how long it
// took; Build then finds them in the cache.
func Prepare(ctx context.Context, cacheDir string, recipes ...Recipe) (time.Duration, error) {
	start := time.Now()
	errs := make([]error, len(recipes))
	var wg sync.WaitGroup
	for i, r := range recipes {
		wg.Go(func() {
			if _, _, err := cachedRootfs(ctx, cacheDir, r.Packages); err != nil {
				errs[i] = fmt.Errorf("image %s: %w", r.Name, err)
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}
