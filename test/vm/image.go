package vm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/test/cachedir"
)

// Log field keys.
const (
	logKeyPackage = "package"
	logKeyPath    = "path"
)

//go:embed init.sh
var initScript []byte

// bootModules are what the init loads before it can reach the host: the
// virtio PCI transport and 9p over it. Their dependencies come along.
var bootModules = []string{"virtio_pci", "9pnet_virtio", "9p"}

// Config says which kernel to prepare and where to keep it.
type Config struct {
	// CacheDir keeps prepared kernels; "" means DefaultCacheDir().
	CacheDir string
	// KernelPackage is a Debian kernel image package or a metapackage that
	// depends on one; "" means DefaultKernelPackage.
	KernelPackage string
	// Modules are loaded at boot besides the ones 9p needs (tests can also
	// modprobe any module of the kernel: the module tree is shared).
	Modules []string
	// Busybox is a statically linked busybox; "" means /bin/busybox (Debian's
	// busybox-static).
	Busybox string
	// Logger reports slow steps (downloading the kernel); nil is silent.
	Logger *zap.Logger
}

// Image is a bootable guest.
type Image struct {
	// Package is the kernel package and version, "linux-image-…=6.1.…".
	Package string
	// Release is the kernel's release string (uname -r in the guest).
	Release string
	// Vmlinux is the uncompressed kernel.
	Vmlinux string
	// KernelConfig is the kernel's build configuration.
	KernelConfig string
	// ModuleRoot holds every module of the kernel; the guest mounts it
	// read-only at /lib/modules/<Release>.
	ModuleRoot string
	// Initramfs carries busybox, the boot modules and the init.
	Initramfs string
}

// Prepare returns the guest image for cfg, downloading and building what the
// cache lacks. Concurrent callers wait for each other.
func Prepare(ctx context.Context, cfg Config) (*Image, error) {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.CacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		cfg.CacheDir = dir
	}
	if cfg.KernelPackage == "" {
		cfg.KernelPackage = DefaultKernelPackage
	}
	if cfg.Busybox == "" {
		cfg.Busybox = "/bin/busybox"
	}
	unlock, err := cachedir.Lock(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	pkg, err := resolveKernelCached(ctx, cfg.CacheDir, cfg.KernelPackage)
	if err != nil {
		return nil, err
	}

	dir := filepath.Join(cfg.CacheDir, pkg.key())
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := fetchKernel(ctx, pkg, dir, log); err != nil {
			return nil, err
		}
		pruneKernels(cfg.CacheDir, dir, log)
	} else if err != nil {
		return nil, fmt.Errorf("stat cached kernel: %w", err)
	}
	release, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return nil, fmt.Errorf("read cached kernel release: %w", err)
	}
	img := &Image{
		Package:      pkg.String(),
		Release:      strings.TrimSpace(string(release)),
		Vmlinux:      filepath.Join(dir, "vmlinux"),
		KernelConfig: filepath.Join(dir, "config"),
	}
	img.ModuleRoot = filepath.Join(dir, "lib/modules", img.Release)
	if img.Initramfs, err = buildInitramfs(img.ModuleRoot, dir, cfg, log); err != nil {
		return nil, err
	}
	return img, nil
}

// pruneKernels removes every kernel in the cache but keep (about 450 MB
// each; apt brings a new one with each kernel update) and the scratch dirs of
// interrupted downloads. The caller holds the cache lock.
func pruneKernels(cacheDir, keep string, log *zap.Logger) {
	old, _ := filepath.Glob(filepath.Join(cacheDir, "linux-image-*"))
	scratch, _ := filepath.Glob(filepath.Join(cacheDir, ".fetch-*"))
	for _, dir := range append(old, scratch...) {
		if dir == keep {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("cannot prune the kernel cache", zap.String(logKeyPath, dir), zap.Error(err))
			continue
		}
		log.Info("pruned the kernel cache", zap.String(logKeyPath, dir))
	}
}

// buildInitramfs writes the initramfs into dir unless an identical one is
// there: its name is the hash of its content.
func buildInitramfs(moduleRoot, dir string, cfg Config, log *zap.Logger) (string, error) {
	busybox, err := os.ReadFile(cfg.Busybox)
	if err != nil {
		return "", fmt.Errorf("read busybox (install busybox-static): %w", err)
	}
	if err := requireStatic(cfg.Busybox); err != nil {
		return "", fmt.Errorf("%w (install busybox-static)", err)
	}
	order, err := bootModuleOrder(moduleRoot, append(append([]string{}, bootModules...), cfg.Modules...))
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	cw := newCPIOWriter(&buf)
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "lib", "lib/modules",
		"lib/vigil-vm", "proc", "sys", "dev", "tmp", "run", "root", "vm", "vm/ctl"} {
		cw.Dir(d, 0o755)
	}
	cw.File("bin/busybox", 0o755, busybox)
	cw.File("init", 0o755, initScript)
	cw.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	cw.File("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	cw.File("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost\n"))
	var names []string
	for _, m := range order {
		ko, err := os.ReadFile(filepath.Join(moduleRoot, m.path))
		if err != nil {
			return "", fmt.Errorf("read module: %w", err)
		}
		cw.File("lib/vigil-vm/"+m.name+".ko", 0o644, ko)
		names = append(names, m.name)
	}
	cw.File("lib/vigil-vm/order", 0o644, []byte(strings.Join(names, "\n")+"\n"))
	if err := cw.Close(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	path := filepath.Join(dir, "initramfs-"+hex.EncodeToString(sum[:8])+".cpio")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	log.Info("writing initramfs", zap.String(logKeyPath, path))
	return path, writeFileAtomic(path, buf.Bytes(), 0o644)
}

// bootModule is a module the init inserts, with its path in the module tree.
type bootModule struct{ name, path string }

func bootModuleOrder(moduleRoot string, want []string) ([]bootModule, error) {
	depFile, err := os.Open(filepath.Join(moduleRoot, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("open modules.dep: %w", err)
	}
	defer depFile.Close()
	md, err := parseModulesDep(depFile)
	if err != nil {
		return nil, err
	}
	builtinFile, err := os.Open(filepath.Join(moduleRoot, "modules.builtin"))
	if err != nil {
		return nil, fmt.Errorf("open modules.builtin: %w", err)
	}
	defer builtinFile.Close()
	builtin, err := parseBuiltin(builtinFile)
	if err != nil {
		return nil, err
	}
	names, err := md.loadOrder(want, builtin)
	if err != nil {
		return nil, err
	}
	mods := make([]bootModule, len(names))
	for i, n := range names {
		if !strings.HasSuffix(md.path[n], ".ko") {
			return nil, fmt.Errorf("module %s is compressed (%s); the init's insmod takes plain .ko files", n, md.path[n])
		}
		mods[i] = bootModule{name: n, path: md.path[n]}
	}
	return mods, nil
}

// requireStatic fails for a dynamically linked program: the guest has no libc.
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("read %s as ELF: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked and the guest has no libc", path)
		}
	}
	return nil
}
