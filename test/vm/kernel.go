package vm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"go.uber.org/zap"
)

// DefaultKernelPackage is Debian's metapackage for the current amd64 kernel;
// it is resolved to the versioned image package it depends on.
const DefaultKernelPackage = "linux-image-amd64"

// kernelPkg is one exact version of a Debian kernel image package.
type kernelPkg struct {
	name, version string
}

// key names the package's directory in the cache.
func (p kernelPkg) key() string { return p.name + "_" + p.version }

func (p kernelPkg) String() string { return p.name + "=" + p.version }

// imagePackage matches versioned image packages ("linux-image-6.1.0-56-amd64"),
// not metapackages ("linux-image-amd64").
var imagePackage = regexp.MustCompile(`^linux-image-[0-9]`)

// resolveKernel asks apt which exact package and version name stands for:
// itself if it is a versioned image package, else the image it depends on.
func resolveKernel(ctx context.Context, name string) (kernelPkg, error) {
	fields, err := aptShow(ctx, name)
	if err != nil {
		return kernelPkg{}, err
	}
	if imagePackage.MatchString(name) {
		return kernelPkg{name: name, version: fields["Version"]}, nil
	}
	// "linux-image-6.1.0-56-amd64 (= 6.1.192-2)"
	for _, dep := range strings.Split(fields["Depends"], ",") {
		dep = strings.TrimSpace(strings.Split(dep, "|")[0])
		depName, rest, _ := strings.Cut(dep, " ")
		if !imagePackage.MatchString(depName) {
			continue
		}
		if v, ok := strings.CutPrefix(strings.Trim(rest, "()"), "= "); ok {
			return kernelPkg{name: depName, version: v}, nil
		}
		depFields, err := aptShow(ctx, depName)
		if err != nil {
			return kernelPkg{}, err
		}
		return kernelPkg{name: depName, version: depFields["Version"]}, nil
	}
	return kernelPkg{}, fmt.Errorf("package %s depends on no kernel image (Depends: %q)", name, fields["Depends"])
}

// aptShow returns the control fields of the candidate version of a package.
func aptShow(ctx context.Context, name string) (map[string]string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", name)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache show %s (is apt's package list current? run apt-get update): %w: %s",
			name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, " ") {
			fields[k] = v
		}
	}
	if fields["Version"] == "" {
		return nil, fmt.Errorf("apt-cache show %s: no Version field", name)
	}
	return fields, nil
}

// fetchKernel downloads the package with apt-get and lays out dst as
//
//	vmlinux                      the uncompressed kernel (ELF, boots via PVH)
//	config                       the kernel's build configuration
//	release                      its release string (uname -r)
//	lib/modules/<release>/       every module, with depmod's indexes
//
// It works in a scratch directory and renames it to dst only when complete.
// The package is never installed on the host.
func fetchKernel(ctx context.Context, pkg kernelPkg, dst string, log *zap.Logger) error {
	scratch, err := os.MkdirTemp(filepath.Dir(dst), ".fetch-")
	if err != nil {
		return fmt.Errorf("create scratch dir: %w", err)
	}
	defer os.RemoveAll(scratch)
	// apt drops privileges to _apt for the download; let it write here.
	if err := os.Chmod(scratch, 0o755); err != nil {
		return fmt.Errorf("chmod scratch dir: %w", err)
	}
	log.Info("downloading kernel package", zap.Stringer(logKeyPackage, pkg))
	if err := run(ctx, scratch, "apt-get", "download", "-q", pkg.String()); err != nil {
		return fmt.Errorf("download kernel (apt-get update may help): %w", err)
	}
	debs, _ := filepath.Glob(filepath.Join(scratch, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s left %d .deb files", pkg, len(debs))
	}
	root := filepath.Join(scratch, "root")
	if err := run(ctx, scratch, "dpkg-deb", "--extract", debs[0], root); err != nil {
		return fmt.Errorf("extract kernel package: %w", err)
	}
	releases, _ := filepath.Glob(filepath.Join(root, "lib/modules/*"))
	if len(releases) != 1 {
		return fmt.Errorf("kernel package %s: want one lib/modules/<release>, found %d", pkg, len(releases))
	}
	release := filepath.Base(releases[0])

	out := filepath.Join(scratch, "out")
	if err := os.MkdirAll(filepath.Join(out, "lib/modules"), 0o755); err != nil {
		return fmt.Errorf("create kernel dir: %w", err)
	}
	bzImage, err := os.ReadFile(filepath.Join(root, "boot", "vmlinuz-"+release))
	if err != nil {
		return fmt.Errorf("read kernel image: %w", err)
	}
	vmlinux, err := extractVmlinux(ctx, bzImage)
	if err != nil {
		return fmt.Errorf("kernel package %s: %w", pkg, err)
	}
	if err := os.WriteFile(filepath.Join(out, "vmlinux"), vmlinux, 0o644); err != nil {
		return fmt.Errorf("write vmlinux: %w", err)
	}
	if err := os.Rename(filepath.Join(root, "boot", "config-"+release), filepath.Join(out, "config")); err != nil {
		return fmt.Errorf("keep kernel config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "release"), []byte(release+"\n"), 0o644); err != nil {
		return fmt.Errorf("write release: %w", err)
	}
	if err := os.Rename(releases[0], filepath.Join(out, "lib/modules", release)); err != nil {
		return fmt.Errorf("keep modules: %w", err)
	}
	// The package ships no modules.dep: postinst runs depmod on install.
	if err := run(ctx, out, "depmod", "--basedir", out, release); err != nil {
		return fmt.Errorf("index modules (install kmod): %w", err)
	}
	if err := os.Rename(out, dst); err != nil {
		return fmt.Errorf("move kernel into the cache: %w", err)
	}
	return nil
}

// run runs a command in dir, returning its output in the error if it fails.
func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
