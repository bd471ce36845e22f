package vm

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-dev/vigil/test/cachedir"
)

// DefaultCacheDir is where prepared kernels and initramfs images are kept:
// /var/cache/vigil-vm for root (shared by every checkout on the machine), the
// user's cache directory otherwise.
func DefaultCacheDir() (string, error) { return cachedir.Default("vigil-vm") }

// writeFileAtomic writes data next to path and renames it into place, so a
// reader never sees a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}
