package vm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Defaults of a run.
const (
	DefaultTimeout   = 10 * time.Minute
	DefaultMemoryMiB = 1024
	DefaultCPUs      = 2
)

// GuestEnv is set to "1" for every program the guest runs, so that a test can
// tell it runs inside the VM.
const GuestEnv = "VIGIL_VM_GUEST"

// guestPath is the environment's PATH in the guest, where busybox's applets are.
const guestPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// Share is a host directory the guest sees at the same path, so that paths
// in arguments and the working directory mean the same inside.
type Share struct {
	Path     string
	ReadOnly bool
}

// Spec says what to run in the guest.
type Spec struct {
	// Path is the program, an absolute host path; its directory is shared
	// read-write. Go programs must be built with CGO_ENABLED=0.
	Path string
	// Args are its arguments (without the program name).
	Args []string
	// Env is its whole environment, "NAME=value", on top of PATH, HOME,
	// TMPDIR and GuestEnv=1. Nothing is inherited from the host.
	Env []string
	// Dir is the working directory; it is shared read-only unless a share
	// already covers it. "" means /.
	Dir string
	// Shares are further host directories to mirror.
	Shares []Share
	// Stdout and Stderr receive the program's output while it runs; nil
	// discards it.
	Stdout, Stderr io.Writer
	// Timeout bounds boot and run together; past it qemu is killed.
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// MemoryMiB and CPUs size the guest; 0 means the defaults.
	MemoryMiB, CPUs int
	// KernelArgs are appended to the kernel command line.
	KernelArgs []string
}

// withDefaults checks s and fills in its defaults.
func (s Spec) withDefaults() (Spec, error) {
	if !filepath.IsAbs(s.Path) {
		return s, fmt.Errorf("program path %q is not absolute", s.Path)
	}
	if strings.Contains(s.Path, "=") {
		// env(1) would take it for a variable.
		return s, fmt.Errorf("program path %q contains '='", s.Path)
	}
	if s.Dir != "" && !filepath.IsAbs(s.Dir) {
		return s, fmt.Errorf("working directory %q is not absolute", s.Dir)
	}
	for _, kv := range s.Env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.ContainsAny(kv, "\x00") {
			return s, fmt.Errorf("environment entry %q is not NAME=value", kv)
		}
	}
	if s.Stdout == nil {
		s.Stdout = io.Discard
	}
	if s.Stderr == nil {
		s.Stderr = io.Discard
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = DefaultMemoryMiB
	}
	if s.CPUs == 0 {
		s.CPUs = DefaultCPUs
	}
	return s, nil
}

// shares returns the directories to mirror: the program's, the requested ones
// and the working directory, parents before children, each once (read-write
// wins). A directory inside a share of the same access is not shared again.
func (s Spec) shares() ([]Share, error) {
	all := append([]Share{{Path: filepath.Dir(s.Path)}}, s.Shares...)
	byPath := map[string]bool{} // path → read-only
	for _, sh := range all {
		if !filepath.IsAbs(sh.Path) {
			return nil, fmt.Errorf("share %q is not absolute", sh.Path)
		}
		p := filepath.Clean(sh.Path)
		if err := checkSharePath(p); err != nil {
			return nil, err
		}
		ro, seen := byPath[p]
		byPath[p] = sh.ReadOnly && (!seen || ro)
	}
	if s.Dir != "" {
		dir := filepath.Clean(s.Dir)
		if covering(byPath, dir) == "" {
			if err := checkSharePath(dir); err != nil {
				return nil, fmt.Errorf("working directory: %w", err)
			}
			byPath[dir] = true
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []Share
	for _, p := range paths {
		if parent := covering(byPath, filepath.Dir(p)); parent != "" && byPath[parent] == byPath[p] {
			continue
		}
		out = append(out, Share{Path: p, ReadOnly: byPath[p]})
	}
	return out, nil
}

// covering returns the shared directory that contains path, "" if none.
func covering(byPath map[string]bool, path string) string {
	for p := path; ; p = filepath.Dir(p) {
		if _, ok := byPath[p]; ok {
			return p
		}
		if p == "/" {
			return ""
		}
	}
}

// errGuestOwned refuses shares over what the guest's init mounts itself.
var errGuestOwned = errors.New("the guest mounts this path itself")

func checkSharePath(p string) error {
	if p == "/" {
		return fmt.Errorf("share /: %w", errGuestOwned)
	}
	for _, own := range []string{"/proc", "/sys", "/dev", "/vm", "/lib/modules", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/run"} {
		if p == own || strings.HasPrefix(p, own+"/") {
			return fmt.Errorf("share %s: %w", p, errGuestOwned)
		}
	}
	return nil
}

// ModuleRoot finds the directory of the go.mod at or above dir: tests read
// testdata and other files of their module, so runners share all of it.
func ModuleRoot(dir string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, true
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", false
		}
		if d == filepath.Dir(d) {
			return "", false
		}
	}
}
