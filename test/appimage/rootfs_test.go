package appimage

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func TestRootfsKeyFollowsThePackageSet(t *testing.T) {
	a := rootfsKey([]string{"nginx-light", "curl"})
	if b := rootfsKey([]string{"curl", "nginx-light"}); a != b {
		t.Errorf("the same packages in another order keyed %s and %s", a, b)
	}
	if c := rootfsKey([]string{"nginx-light"}); a == c {
		t.Errorf("different package sets share the key %s", a)
	}
}

func TestIndexRootfsListsFilesAndHashesTheTar(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/bin/perl", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4},
		{Name: "./usr/bin/perl5.36.0", Typeflag: tar.TypeLink, Linkname: "./usr/bin/perl"},
		{Name: "./bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("perl"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := indexRootfs(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.FromBytes(buf.Bytes()); fs.Digest != want || fs.Size != int64(buf.Len()) {
		t.Errorf("digest %s size %d, want %s %d", fs.Digest, fs.Size, want, buf.Len())
	}
	if want := []string{"/usr/bin/perl", "/usr/bin/perl5.36.0", "/bin"}; !slices.Equal(fs.Files, want) {
		t.Errorf("files %q, want %q", fs.Files, want)
	}

	if err := saveIndex(fs); err != nil {
		t.Fatal(err)
	}
	loaded, err := loadIndex(file)
	if err != nil || loaded.Digest != fs.Digest || !slices.Equal(loaded.Files, fs.Files) {
		t.Errorf("index reloaded as %+v, %v", loaded, err)
	}
	if err := os.WriteFile(file, append(buf.Bytes(), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadIndex(file); err == nil {
		t.Error("an index was accepted for a tar of another size")
	}
}
