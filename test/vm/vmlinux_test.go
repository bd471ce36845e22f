package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"os/exec"
	"testing"

	"github.com/vigil-dev/vigil/test/testenv"
)

// fakeKernel is what extractVmlinux must find: an ELF header and a body.
var fakeKernel = append(append([]byte{}, elfMagic...), bytes.Repeat([]byte("kernel text "), 1000)...)

// bzImage wraps a compressed payload the way a bzImage does: setup code
// before (here with a stray copy of the magic), other data after.
func bzImage(magic, payload []byte) []byte {
	img := append([]byte("setup code "), magic...)
	img = append(img, []byte(" more setup ")...)
	img = append(img, payload...)
	return append(img, []byte("trailing data")...)
}

func TestExtractVmlinuxGzip(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(fakeKernel)
	zw.Close()
	got, err := extractVmlinux(context.Background(), bzImage([]byte("\x1f\x8b\x08"), z.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, fakeKernel) {
		t.Fatalf("extracted %d bytes, not the kernel", len(got))
	}
}

func TestExtractVmlinuxXZ(t *testing.T) {
	// The kernel's own xz settings: x86 BCJ filter, CRC32.
	cmd := exec.Command("xz", "--compress", "--stdout", "--check=crc32", "--x86", "--lzma2=preset=6")
	cmd.Stdin = bytes.NewReader(fakeKernel)
	xz, err := cmd.Output()
	testenv.RequireInstalled(t, "xz (xz-utils)", err)
	got, err := extractVmlinux(context.Background(), bzImage([]byte("\xfd7zXZ\x00"), xz))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, fakeKernel) {
		t.Fatalf("extracted %d bytes, not the kernel", len(got))
	}
}

func TestExtractVmlinuxNoKernel(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte("not an ELF file"))
	zw.Close()
	if _, err := extractVmlinux(context.Background(), bzImage(nil, z.Bytes())); err == nil {
		t.Fatal("extracted a kernel from an image without one")
	}
}
