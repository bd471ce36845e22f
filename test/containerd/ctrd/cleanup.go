package ctrd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// removeAllContainers kills every task and deletes every container (with its
// snapshot) in every namespace of the daemon at address.
func removeAllContainers(address string) error {
	c, err := client.New(address)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers of %s: %w", ns, err))
			continue
		}
		for _, ctr := range ctrs {
			if err := RemoveContainer(nctx, ctr); err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", ns, ctr.ID(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// RemoveContainer kills the container's task if it has one, then deletes the
// container and its snapshot. Already-gone parts are not errors.
func RemoveContainer(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task: %w", err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("load task: %w", err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container: %w", err)
	}
	return nil
}

// killLeftovers kills shims of the daemon at address that survived it, and
// the container processes under them (a shim's death does not kill those),
// and logs each with logf.
func killLeftovers(address string, logf func(format string, args ...any)) {
	procs := readProcs()
	for pid, p := range procs {
		if !strings.Contains(p.cmdline, "containerd-shim") || !strings.Contains(p.cmdline, "\x00"+address+"\x00") {
			continue
		}
		for _, child := range descendants(procs, pid) {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		logf("containerd: killed leftover shim %d of %s", pid, address)
	}
}

type procInfo struct {
	ppid    int
	cmdline string // NUL-separated, with a trailing NUL
}

func readProcs() map[int]procInfo {
	entries, _ := os.ReadDir("/proc")
	procs := make(map[int]procInfo, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: fields start after the last ')'.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		procs[pid] = procInfo{ppid: ppid, cmdline: string(cmdline)}
	}
	return procs
}

func descendants(procs map[int]procInfo, root int) []int {
	var out []int
	frontier := []int{root}
	for len(frontier) > 0 {
		parent := frontier[0]
		frontier = frontier[1:]
		for pid, p := range procs {
			if p.ppid == parent {
				out = append(out, pid)
				frontier = append(frontier, pid)
			}
		}
	}
	return out
}

// unmountUnder lazily unmounts everything mounted below dir (rootfs mounts a
// killed shim could not clean up), deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
