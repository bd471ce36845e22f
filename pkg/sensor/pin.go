package sensor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Enforcement survives the agent: the links of the families that enforce
// are pinned in bpffs, one directory per agent run (a generation), and stay
// attached — with the maps they use — when the agent exits. A new agent
// attaches its own programs first (both generations enforce meanwhile: an
// action must pass both), reconciles its maps with containerd and the
// profiles, and only then releases the previous generations. There is no
// moment without enforcement.

// enforcing names the families whose links are pinned: those that deny,
// and process, which hands every new task its contained record (without
// it, runc setting up a container while no agent runs would be judged).
var enforcing = map[string]bool{"exec": true, "process": true, "capability": true, "lsm": true, "connect-guard": true}

// ensureBPFFS mounts bpffs at dir's mount point (/sys/fs/bpf) if needed.
func ensureBPFFS(dir string) error {
	const bpffs = "/sys/fs/bpf"
	var st unix.Statfs_t
	if err := unix.Statfs(bpffs, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return os.MkdirAll(dir, 0o700)
	}
	if err := os.MkdirAll(bpffs, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", bpffs, err)
	}
	if err := unix.Mount("bpf", bpffs, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs at %s: %w", bpffs, err)
	}
	return os.MkdirAll(dir, 0o700)
}

// pinGeneration pins the enforcing families' links under a new generation
// directory and returns it.
func (s *Sensor) pinGeneration(dir string) (string, error) {
	gen := filepath.Join(dir, strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.Mkdir(gen, 0o700); err != nil {
		return "", fmt.Errorf("create pin generation: %w", err)
	}
	for _, lf := range s.families {
		if !enforcing[lf.name] {
			continue
		}
		for i, l := range lf.links {
			if err := l.Pin(filepath.Join(gen, fmt.Sprintf("%s-%d", lf.name, i))); err != nil {
				return gen, fmt.Errorf("pin %s link: %w", lf.name, err)
			}
		}
	}
	return gen, nil
}

// ReleasePrevious detaches the links earlier agents left pinned in the pin
// directory: call it once this agent's maps enforce what they should.
func (s *Sensor) ReleasePrevious() error {
	if s.pinDir == "" {
		return nil
	}
	n, err := unpinGenerations(s.pinDir, s.generation)
	if n > 0 {
		s.log.Info("released the enforcement left by a previous agent", zap.Int("links", n))
	}
	return err
}

// Unpin detaches every link left pinned under dir, and removes dir:
// enforcement stops. For uninstalling, with no agent running.
func Unpin(dir string) (int, error) {
	n, err := unpinGenerations(dir, "")
	if err != nil {
		return n, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return n, fmt.Errorf("remove pin directory: %w", err)
	}
	return n, nil
}

// unpinGenerations removes every generation under dir but keep.
func unpinGenerations(dir, keep string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list pinned generations: %w", err)
	}
	total := 0
	var errs []error
	for _, e := range entries {
		if gen := filepath.Join(dir, e.Name()); gen != keep {
			n, err := unpinGeneration(gen)
			total += n
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// unpinGeneration detaches the links pinned in one generation directory.
func unpinGeneration(gen string) (int, error) {
	pins, err := os.ReadDir(gen)
	if err != nil {
		return 0, fmt.Errorf("list pinned links: %w", err)
	}
	n := 0
	var errs []error
	for _, p := range pins {
		l, err := link.LoadPinnedLink(filepath.Join(gen, p.Name()), nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("open pinned link %s: %w", p.Name(), err))
			continue
		}
		errs = append(errs, l.Unpin(), l.Close())
		n++
	}
	return n, errors.Join(append(errs, os.Remove(gen))...)
}
