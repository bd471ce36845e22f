// Package cachedir is where tests keep what is costly to make and the same
// for every checkout on a machine (prepared kernels, built images): outside
// the clone, shared, and locked while written.
package cachedir

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Default is the cache directory called name: /var/cache/<name> for root
// (shared by every checkout on the machine), the user's cache directory
// otherwise.
func Default(name string) (string, error) {
	if os.Geteuid() == 0 {
		return filepath.Join("/var/cache", name), nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache directory: %w", err)
	}
	return filepath.Join(dir, name), nil
}

// Lock creates dir if needed and takes an exclusive lock on it, so that
// concurrent runs (go test runs several packages at once) make an entry once
// and never see one half-written. The returned function releases it.
func Lock(dir string) (func(), error) { return lock(dir, ".lock") }

// LockEntry is Lock for one entry of dir: makers of other entries go on.
func LockEntry(dir, entry string) (func(), error) { return lock(dir, "."+entry+".lock") }

func lock(dir, name string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open cache lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock cache: %w", err)
	}
	return func() { f.Close() }, nil
}
