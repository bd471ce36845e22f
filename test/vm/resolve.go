package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// aptLists is where apt keeps the package indexes it resolves names from.
const aptLists = "/var/lib/apt/lists"

// resolvedKernel is a resolution remembered in the cache, valid while apt's
// indexes are unchanged.
type resolvedKernel struct {
	Lists   string `json:"lists"`
	Package string `json:"package"`
	Version string `json:"version"`
}

// resolveKernelCached is resolveKernel, remembered in cacheDir until apt's
// indexes change: apt-cache parses every index on each call (about a second
// where its own cache is disabled, as in Debian's container images), which
// would otherwise be paid by every test package.
func resolveKernelCached(ctx context.Context, cacheDir, name string) (kernelPkg, error) {
	stamp, err := listsStamp()
	if err != nil {
		return kernelPkg{}, err
	}
	path := filepath.Join(cacheDir, "resolved-"+name+".json")
	var r resolvedKernel
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &r) == nil && r.Lists == stamp && r.Package != "" {
		return kernelPkg{name: r.Package, version: r.Version}, nil
	}
	pkg, err := resolveKernel(ctx, name)
	if err != nil {
		return kernelPkg{}, err
	}
	b, err := json.Marshal(resolvedKernel{Lists: stamp, Package: pkg.name, Version: pkg.version})
	if err != nil {
		return kernelPkg{}, fmt.Errorf("encode kernel resolution: %w", err)
	}
	if err := writeFileAtomic(path, b, 0o644); err != nil {
		return kernelPkg{}, err
	}
	return pkg, nil
}

// listsStamp identifies the current state of apt's indexes by their names,
// sizes and modification times.
func listsStamp() (string, error) {
	entries, err := os.ReadDir(aptLists)
	if err != nil {
		return "", fmt.Errorf("read apt lists: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	h := sha256.New()
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return "", fmt.Errorf("stat apt list: %w", err)
		}
		fmt.Fprintf(h, "%s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
