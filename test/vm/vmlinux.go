package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
)

// elfMagic starts an uncompressed kernel: PVH boot needs the ELF, and it
// boots faster than the bzImage under TCG because the guest does not have
// to decompress itself in emulation.
var elfMagic = []byte("\x7fELF")

// decompressor knows one compression's magic and how to undo it.
type decompressor struct {
	name  string
	magic []byte
	run   func(ctx context.Context, compressed []byte) ([]byte, error)
}

// xz is what Debian's kernels use, gzip the kernel's default. The kernel's xz
// stream uses the x86 BCJ filter, which the xz tool implements and Go
// libraries do not, so it is run as a process.
var decompressors = []decompressor{
	{"xz", []byte("\xfd7zXZ\x00"), unxz},
	{"gzip", []byte("\x1f\x8b\x08"), gunzip},
}

// extractVmlinux finds the compressed kernel inside a bzImage and returns it
// uncompressed, as the kernel tree's scripts/extract-vmlinux does: try every
// offset where a known magic appears until one decompresses to an ELF file.
func extractVmlinux(ctx context.Context, bzImage []byte) ([]byte, error) {
	var errs []error
	for _, d := range decompressors {
		for off := 0; ; off++ {
			i := bytes.Index(bzImage[off:], d.magic)
			if i < 0 {
				break
			}
			off += i
			out, err := d.run(ctx, bzImage[off:])
			if err == nil && bytes.HasPrefix(out, elfMagic) {
				return out, nil
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s at offset %d: %w", d.name, off, err))
			}
		}
	}
	return nil, fmt.Errorf("no compressed ELF kernel found in the image: %w", errors.Join(errs...))
}

func unxz(ctx context.Context, compressed []byte) ([]byte, error) {
	// --single-stream ignores what follows the kernel in the bzImage.
	cmd := exec.CommandContext(ctx, "xz", "--decompress", "--stdout", "--single-stream")
	cmd.Stdin = bytes.NewReader(compressed)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("xz (install xz-utils): %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

func gunzip(_ context.Context, compressed []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(zr)
}
