package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteReplaces writes a file twice: each time the file holds exactly
// the last content and no temporary file stays behind.
func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state.yaml")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := Write(name, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("file holds %q, want %q", got, content)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("%d files in the directory after a write, want 1", len(entries))
		}
	}
}

// TestWriteFailsWithoutDirectory leaves nothing behind when the directory
// is missing, and says so.
func TestWriteFailsWithoutDirectory(t *testing.T) {
	name := filepath.Join(t.TempDir(), "missing", "state.yaml")
	if err := Write(name, []byte("x")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		"/state/" + tempPrefix + "a.yaml-123": true,
		tempPrefix + "b":                      true,
		"/state/a.yaml":                       false,
		"a" + tempPrefix:                      false,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}
