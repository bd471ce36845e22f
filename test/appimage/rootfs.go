package appimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Suite is the Debian release the images are built from.
const Suite = "bookworm"

// sources are the apt sources of the images: the release with its updates
// and security fixes, as a Debian machine has them.
var sources = []string{
	"deb http://deb.debian.org/debian " + Suite + " main",
	"deb http://deb.debian.org/debian " + Suite + "-updates main",
	"deb http://deb.debian.org/debian-security " + Suite + "-security main",
}

// rootfs is a Debian root filesystem tar in the cache, with its digest and
// what it ships.
type rootfs struct {
	Path string `json:"-"`
	// Digest and Size are the tar's.
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// Files are the absolute paths of its regular files, hard links and
	// symlinks.
	Files []string `json:"files"`
}

// mmdebstrapArgs is the build recipe: the mmdebstrap command line, less the
// output file (given last). Device nodes are left out of the tar (runc makes
// /dev), and so are manuals, docs and translations.
func mmdebstrapArgs(packages []string) []string {
	pkgs := slices.Clone(packages)
	slices.Sort(pkgs)
	return []string{
		"--quiet", "--mode=root", "--variant=apt", "--skip=output/dev",
		"--include=" + strings.Join(pkgs, ","),
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		Suite,
	}
}

// rootfsKey names a package set's rootfs in the cache: a hash of the
// recipe, so a changed recipe or package list builds anew.
func rootfsKey(packages []string) string {
	h := sha256.New()
	for _, a := range append(mmdebstrapArgs(packages), sources...) {
		fmt.Fprintf(h, "%s\x00", a)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// buildRootfs runs mmdebstrap into out, killing it and everything it
// started when ctx ends.
func buildRootfs(ctx context.Context, packages []string, out string) error {
	bin, err := exec.LookPath("mmdebstrap")
	if err != nil {
		return fmt.Errorf("mmdebstrap is not installed (test/deps.sh apps installs it): %w", err)
	}
	args := append(mmdebstrapArgs(packages), out)
	args = append(args, sources...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// Its own process group: apt and dpkg in the chroot die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return fmt.Errorf("mmdebstrap %s: %w\n%s", strings.Join(packages, " "), err, tail(stderr.Bytes(), 4096))
	}
	return nil
}

// indexRootfs reads a rootfs tar once for its digest, size and file list.
func indexRootfs(file string) (rootfs, error) {
	f, err := os.Open(file)
	if err != nil {
		return rootfs{}, fmt.Errorf("open rootfs: %w", err)
	}
	defer f.Close()
	d := digest.Canonical.Digester()
	counted := &countingWriter{w: d.Hash()}
	r := io.TeeReader(f, counted)
	tr := tar.NewReader(r)
	fs := rootfs{Path: file}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rootfs{}, fmt.Errorf("read %s: %w", file, err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeLink, tar.TypeSymlink:
			fs.Files = append(fs.Files, path.Clean("/"+hdr.Name))
		}
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // the tar's end padding, for the digest
		return rootfs{}, fmt.Errorf("read %s: %w", file, err)
	}
	fs.Digest, fs.Size = d.Digest(), counted.n
	return fs, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// saveIndex writes the rootfs's index next to it; the tar must already be
// in place, so an index always names a complete tar.
func saveIndex(fs rootfs) error {
	b, err := json.Marshal(fs)
	if err != nil {
		return fmt.Errorf("encode rootfs index: %w", err)
	}
	tmp := indexPath(fs.Path) + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write rootfs index: %w", err)
	}
	if err := os.Rename(tmp, indexPath(fs.Path)); err != nil {
		return fmt.Errorf("rename rootfs index: %w", err)
	}
	return nil
}

func loadIndex(file string) (rootfs, error) {
	b, err := os.ReadFile(indexPath(file))
	if err != nil {
		return rootfs{}, err
	}
	var fs rootfs
	if err := json.Unmarshal(b, &fs); err != nil {
		return rootfs{}, fmt.Errorf("decode %s: %w", indexPath(file), err)
	}
	st, err := os.Stat(file)
	if err != nil {
		return rootfs{}, err
	}
	if st.Size() != fs.Size {
		return rootfs{}, fmt.Errorf("%s has %d bytes, its index says %d", file, st.Size(), fs.Size)
	}
	fs.Path = file
	return fs, nil
}

func indexPath(file string) string { return strings.TrimSuffix(file, ".tar") + ".json" }

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
