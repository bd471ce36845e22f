package enforce

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// Enforcement survives the agent: the links of the families that enforce
// are pinned in bpffs, one directory per agent run (a generation), and stay
// attached — with the maps they use — when the agent exits. A new agent
// attaches its own programs first (both generations enforce meanwhile: an
// action must pass both), reconciles its maps with containerd and the
// profiles, and only then releases the previous generations. There is no
// moment without enforcement.

// heldPin is the name of the pinned table of the processes a generation's
// exec program stopped for their container's marks (see HoldForMarks): the
// generation that releases it continues them, once its own marks are in
// place, whether or not the agent that stopped them lived to.
const heldPin = "held_tasks"

// previousPins are the names of the maps a generation pins for the next
// agent: its ring buffers (judged containers' records and the rest) and
// its counters. Its programs keep writing to them after their agent exits
// — what they killed or denied while no agent read, and how many records
// a full ring had no room for — and a map keeps them while it is pinned
// (it lives as long as a reference to it does), for the next agent to read
// before it releases the generation (PreviousMaps).
var previousPins = []string{bpfobj.RecordMapEvents, bpfobj.RecordMapJudgedEvents, bpfobj.RecordMapStats}

// enforcing names the families whose links are pinned: those that deny,
// and process, which hands every new task its contained record (without
// it, runc setting up a container while no agent runs would be judged).
var enforcing = []bpfobj.Family{bpfobj.FamilyExec, bpfobj.FamilyProcess, bpfobj.FamilyCapabilityFexit, bpfobj.FamilyCapability, bpfobj.FamilyIoUring, bpfobj.FamilyLSM,
	bpfobj.FamilyModReturn, bpfobj.FamilyConnectGuard, bpfobj.FamilyUnixGuard, bpfobj.FamilyOpenGuard}

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
func pinGeneration(objs *bpfobj.Objects, dir string) (string, error) {
	gen := filepath.Join(dir, strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.Mkdir(gen, 0o700); err != nil {
		return "", fmt.Errorf("create pin generation: %w", err)
	}
	for _, f := range enforcing {
		for i, l := range objs.Links(f.Name) {
			if err := l.Pin(filepath.Join(gen, fmt.Sprintf("%s-%d", f.Name, i))); err != nil {
				return gen, fmt.Errorf("pin %s link: %w", f.Name, err)
			}
		}
	}
	if err := objs.Map(bpfobj.RecordMapHeldTasks).Pin(filepath.Join(gen, heldPin)); err != nil {
		return gen, fmt.Errorf("pin the held processes: %w", err)
	}
	for _, name := range previousPins {
		if err := objs.Map(name).Pin(filepath.Join(gen, name)); err != nil {
			return gen, fmt.Errorf("pin the map %s: %w", name, err)
		}
	}
	return gen, nil
}

// PreviousMaps opens the ring buffers and counters of the generations
// pinned under dir, by map name (previousPins): what earlier agents'
// programs wrote and no agent read yet, and what they write until this
// agent releases them. The caller closes them.
func PreviousMaps(dir string) (map[string][]*ebpf.Map, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pinned generations: %w", err)
	}
	maps := map[string][]*ebpf.Map{}
	for _, e := range entries {
		for _, name := range previousPins {
			m, err := ebpf.LoadPinnedMap(filepath.Join(dir, e.Name(), name), nil)
			if errors.Is(err, os.ErrNotExist) {
				continue // pinned by an agent that kept no such map
			}
			if err != nil {
				for _, ms := range maps {
					for _, m := range ms {
						m.Close()
					}
				}
				return nil, fmt.Errorf("open the map %s of generation %s: %w", name, e.Name(), err)
			}
			maps[name] = append(maps[name], m)
		}
	}
	return maps, nil
}

// ReleasePrevious detaches the links earlier agents left pinned in the pin
// directory: call it once this agent's maps enforce what they should.
func (k *Kernel) ReleasePrevious() error {
	defer k.releaseOnce.Do(func() { close(k.released) })
	if k.pinDir == "" {
		return nil
	}
	n, err := unpinGenerations(k.pinDir, k.generation)
	if n > 0 {
		k.log.Info("released the enforcement left by a previous agent", zap.Int("links", n))
	}
	return err
}

// Released is closed once ReleasePrevious has run: no previous
// generation's program writes to its ring buffers after that.
func (k *Kernel) Released() <-chan struct{} { return k.released }

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

// unpinGeneration detaches the links pinned in one generation directory,
// then continues the processes its exec program held.
func unpinGeneration(gen string) (int, error) {
	pins, err := os.ReadDir(gen)
	if err != nil {
		return 0, fmt.Errorf("list pinned links: %w", err)
	}
	n := 0
	var errs []error
	for _, p := range pins {
		if p.Name() == heldPin {
			continue
		}
		if slices.Contains(previousPins, p.Name()) { // an agent reading it holds its own reference
			errs = append(errs, os.Remove(filepath.Join(gen, p.Name())))
			continue
		}
		l, err := link.LoadPinnedLink(filepath.Join(gen, p.Name()), nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("open pinned link %s: %w", p.Name(), err))
			continue
		}
		errs = append(errs, l.Unpin(), l.Close())
		n++
	}
	errs = append(errs, continuePinnedHeld(filepath.Join(gen, heldPin)))
	return n, errors.Join(append(errs, os.Remove(gen))...)
}

// continuePinnedHeld continues the processes in a generation's pinned
// table of held ones, and removes it.
func continuePinnedHeld(path string) error {
	m, err := ebpf.LoadPinnedMap(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open pinned held processes: %w", err)
	}
	defer m.Close()
	_, err = continueHeld(m, func(uint32) bool { return true })
	return errors.Join(err, m.Unpin())
}
