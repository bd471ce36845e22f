package enforce

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestKernelKnowsOverlayFilesNotNumbers monitors a test cgroup whose shell
// works on an overlay of its own, as a container's workload does: opens of
// allowed files, shipped in the lower layer or written to the upper one,
// stay in the kernel; a file created right after an allowed one was deleted
// takes its inode number (ext4 under the overlay hands it on at once) and
// must still leave the kernel, every time.
func TestKernelKnowsOverlayFilesNotNumbers(t *testing.T) {
	testutil.RequireRoot(t)
	const trials, attempts = 10, 40
	k := newKernelFixture(t, 0, func(cfg *sensor.Config, kcfg *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
		cfg.MaxLatency = 10 * time.Millisecond
	})
	opened := make(chan string, 4096)
	go func() {
		for ev := range sensor.Merged(k.sensor) {
			if ev.Type == sensor.TypeOpen {
				opened <- ev.Open.Path
			}
		}
	}()
	dir := plainTempDir(t)
	merged := filepath.Join(dir, "merged")
	shipped, a := filepath.Join(merged, "shipped"), filepath.Join(merged, "a")
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeMonitor}}
	p.Spec.Files = []profile.FileEntry{{Path: shipped, Access: profile.AccessRead}, {Path: a, Access: profile.AccessReadWrite}}
	k.apply(t, 8, profile.ModeMonitor, p)
	_, run := overlayShell(t, k, dir, false)
	// collect returns the paths opened until sentinel, opened last, is seen.
	collect := func(sentinel string) map[string]int {
		t.Helper()
		seen := map[string]int{}
		timeout := time.After(5 * time.Second)
		for seen[sentinel] == 0 {
			select {
			case path := <-opened:
				seen[path]++
			case <-timeout:
				t.Fatalf("the sentinel open of %s never left the kernel; seen %v", sentinel, seen)
			}
		}
		return seen
	}

	sentinel := filepath.Join(merged, "sentinel")
	run(fmt.Sprintf("cd %s && /bin/busybox cat shipped shipped shipped >/dev/null && echo x >a && /bin/busybox cat a a a >/dev/null && echo >sentinel", merged))
	if seen := collect(sentinel); seen[shipped] != 0 || seen[a] != 0 {
		t.Fatalf("opens of allowed overlay files left the kernel: %v", seen)
	}

	out := run(fmt.Sprintf(`cd %s && for i in $(/bin/busybox seq %d); do
	echo x >a; /bin/busybox cat a >/dev/null; ia=$(/bin/busybox stat -c %%i a); /bin/busybox rm a
	echo y >b$i; ib=$(/bin/busybox stat -c %%i b$i); /bin/busybox cat b$i >/dev/null
	echo "$i $ia $ib"
done; echo >sentinel2`, merged, attempts))
	seen := collect(filepath.Join(merged, "sentinel2"))
	var reused, hidden []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var i int
		var ia, ib uint64
		if _, err := fmt.Sscanf(line, "%d %d %d", &i, &ia, &ib); err != nil {
			t.Fatalf("attempt output %q: %v", line, err)
		}
		if ia != ib || len(reused) == trials {
			continue
		}
		b := filepath.Join(merged, fmt.Sprintf("b%d", i))
		reused = append(reused, b)
		if seen[b] == 0 {
			hidden = append(hidden, b)
		}
	}
	if len(reused) == 0 {
		t.Skipf("the overlay's upper layer never reused an inode number in %d attempts: nothing to check", attempts)
	}
	if len(reused) < trials {
		t.Fatalf("only %d of %d attempts reused a's inode number, want %d", len(reused), attempts, trials)
	}
	if len(hidden) > 0 {
		t.Fatalf("%d of %d files that reused an allowed file's inode number stayed in the kernel: %v", len(hidden), trials, hidden)
	}
}

// TestKernelKeysOverlayFiles checks what the cache of allowed opens holds
// for a workload's overlay: a file written to the upper layer by its real
// inode there, a file shipped in the lower layer by its overlay inode.
// Where overlayfs is a module not loaded when the programs load (the test
// VM's Debian kernel, TestKernelKeysOverlayFilesInVM), its types are
// missing and no overlay file is cached; programs loaded after it use them.
func TestKernelKeysOverlayFiles(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := os.Stat("/sys/module/overlay"); errors.Is(err, fs.ErrNotExist) {
		t.Run("overlayfs loaded after the programs", func(t *testing.T) {
			k := newKernelFixture(t, 0, nil)
			k.drain()
			if out, err := exec.Command("/bin/busybox", "modprobe", "overlay").CombinedOutput(); err != nil {
				t.Fatalf("modprobe overlay: %v: %s", err, out)
			}
			openAllowedOverlayFiles(t, k)
			if keys := knownOpens(t, k); len(keys) != 0 {
				t.Errorf("overlay files cached by programs that lack overlayfs's types: %+v", keys)
			}
		})
	}
	t.Run("overlayfs known to the programs", func(t *testing.T) {
		k := newKernelFixture(t, 0, nil)
		k.drain()
		files := openAllowedOverlayFiles(t, k)
		keys := knownOpens(t, k)
		for name, st := range files {
			dev := unix.Major(st.Dev)<<20 | unix.Minor(st.Dev) // the kernel's dev_t
			if !slices.ContainsFunc(keys, func(k bpfobj.RecordKnownOpen) bool { return k.Dev == dev && k.Ino == st.Ino }) {
				t.Errorf("%s (dev %d:%d, inode %d) is not among the cached files %+v", name, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino, keys)
			}
		}
	})
}

// TestKernelKeysOverlayFilesInVM runs TestKernelKeysOverlayFiles on Debian's
// kernel, where overlayfs is a module.
func TestKernelKeysOverlayFilesInVM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RunInVM(t, ".", "^TestKernelKeysOverlayFiles$", "TestKernelKeysOverlayFiles")
}

// openAllowedOverlayFiles writes and reads an upper-layer file and reads a
// lower-layer one, both allowed, on a workload's overlay of layers on a
// tmpfs; it returns what each open should be cached by: the real upper
// inode of the one, the overlay inode of the other.
func openAllowedOverlayFiles(t *testing.T, k *kernelFixture) map[string]unix.Stat_t {
	t.Helper()
	dir := plainTempDir(t)
	merged := filepath.Join(dir, "merged")
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeMonitor}}
	p.Spec.Files = []profile.FileEntry{{Path: filepath.Join(merged, "shipped"), Access: profile.AccessRead},
		{Path: filepath.Join(merged, "a"), Access: profile.AccessReadWrite}}
	k.apply(t, 10, profile.ModeMonitor, p)
	sh, run := overlayShell(t, k, dir, true)
	run(fmt.Sprintf("cd %s && echo x >a && /bin/busybox cat a shipped >/dev/null", merged))
	// The shell's mounts, seen through its root.
	root := fmt.Sprintf("/proc/%d/root", sh.cmd.Process.Pid)
	files := map[string]unix.Stat_t{}
	for name, path := range map[string]string{"the upper-layer file": filepath.Join(dir, "upper", "a"), "the lower-layer file": filepath.Join(merged, "shipped")} {
		var st unix.Stat_t
		if err := unix.Stat(root+path, &st); err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		files[name] = st
	}
	return files
}

// overlayShell starts the workload's shell with an overlay of its own, of
// layers in dir (on a tmpfs of its own when tmpfs is set) at dir/merged, the
// lower layer shipping one file, shipped; the overlay never reaches the
// host. run runs a command in the shell and fails the test if it fails.
func overlayShell(t *testing.T, k *kernelFixture, dir string, tmpfs bool) (sh *shell, run func(string) string) {
	t.Helper()
	sh = startShell(t, k.cgroup)
	run = func(command string) string {
		t.Helper()
		rc, out := sh.run(t, command)
		if rc != 0 {
			t.Fatalf("%s: exit %d: %s", command, rc, out)
		}
		return out
	}
	run("/bin/busybox mount --make-rprivate /")
	if tmpfs {
		run("/bin/busybox mount -t tmpfs layers " + dir)
	}
	run(fmt.Sprintf("cd %s && /bin/busybox mkdir lower upper work merged && echo x >lower/shipped && "+
		"/bin/busybox mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work merged", dir))
	return sh, run
}

// knownOpens is what the cache of allowed opens holds.
func knownOpens(t *testing.T, k *kernelFixture) []bpfobj.RecordKnownOpen {
	t.Helper()
	var keys []bpfobj.RecordKnownOpen
	var key bpfobj.RecordKnownOpen
	var val uint8
	it := k.kernel.objs.Map(bpfobj.RecordMapKnownOpens).Iterate()
	for it.Next(&key, &val) {
		keys = append(keys, key)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}
