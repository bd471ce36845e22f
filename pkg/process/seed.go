package process

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/procfs"
)

// Seed adds every process found under procRoot (normally /proc), so that
// processes started before the agent have ancestry too. cgroupRoot is the
// cgroup2 mount, to turn each process's cgroup path into its id ("" skips).
// Processes that vanish while being read are skipped.
func (t *Table) Seed(procRoot, cgroupRoot string) error {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return fmt.Errorf("list %s: %w", procRoot, err)
	}
	for _, de := range entries {
		pid, err := strconv.ParseUint(de.Name(), 10, 32)
		if err != nil {
			continue
		}
		p, err := readProcess(procRoot, uint32(pid), cgroupRoot, t.hostMntNS)
		if err != nil {
			continue
		}
		t.mu.Lock()
		if _, known := t.procs[p.PID]; !known {
			t.add(p)
		}
		t.mu.Unlock()
	}
	return nil
}

func readProcess(procRoot string, pid uint32, cgroupRoot string, hostMntNS uint32) (Process, error) {
	dir := filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Process{}, err
	}
	comm, ppid, err := parseStat(stat)
	if err != nil {
		return Process{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	p := Process{PID: pid, PPID: ppid, Comm: comm, Path: executable(dir)}
	if ns, err := procfs.MountNamespace(procRoot, pid); err == nil {
		// Already running: whatever exec it last did is behind us.
		p.Contained = ns != hostMntNS
	}
	if cgroupRoot != "" {
		if rel, err := cgroup.OfProcess(procRoot, pid); err == nil {
			p.CgroupID, _ = cgroup.ID(filepath.Join(cgroupRoot, rel))
		}
	}
	return p, nil
}

// parseStat reads comm and ppid from /proc/<pid>/stat. The comm is in
// parentheses and may itself contain spaces and parentheses.
func parseStat(stat []byte) (string, uint32, error) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("malformed stat %q", stat)
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 2 {
		return "", 0, fmt.Errorf("malformed stat %q", stat)
	}
	ppid, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("malformed ppid in stat: %w", err)
	}
	return string(stat[open+1 : end]), uint32(ppid), nil
}

// executable returns the process's executable as the process itself sees
// it: for a process in another root (a container) the root's prefix is cut,
// matching the paths the sensor reports.
func executable(dir string) string {
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		return ""
	}
	root, err := os.Readlink(filepath.Join(dir, "root"))
	if err != nil || root == "/" {
		return exe
	}
	if rel, ok := strings.CutPrefix(exe, root); ok && strings.HasPrefix(rel, "/") {
		return rel
	}
	return exe
}
