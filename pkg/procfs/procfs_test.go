package procfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestReadsThisProcess reads this process from the host's procfs: its
// directory, an fd, its mounts and its mount namespace.
func TestReadsThisProcess(t *testing.T) {
	pid := uint32(os.Getpid())
	if !Exists(DefaultRoot, pid) {
		t.Fatalf("process %d not found in %s", pid, DefaultRoot)
	}
	name := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := FD(DefaultRoot, int(f.Fd())); err != nil || got != name {
		t.Errorf("FD = %q, %v; want %q", got, err, name)
	}
	mounts, err := Mounts(DefaultRoot, pid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(mounts, func(m Mount) bool { return m.Point == "/" }) ||
		!slices.ContainsFunc(mounts, func(m Mount) bool { return m.FSType == "proc" }) {
		t.Errorf("mounts %+v lack the root and procfs", mounts)
	}
	if ns, err := MountNamespace(DefaultRoot, pid); err != nil || ns == 0 {
		t.Errorf("mount namespace = %d, %v", ns, err)
	}
}

// TestOtherRoot reads a procfs laid out elsewhere, as a containerised agent
// mounts the host's: the root given is the one read.
func TestOtherRoot(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "42")
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("mnt:[4026531841]", filepath.Join(dir, "ns", "mnt")); err != nil {
		t.Fatal(err)
	}
	info := "22 1 0:21 / /data rw - ext4 /dev/sda1 rw\n23 22 0:22 / /data/proc rw - proc proc rw\n24 22 0:23 / /data/a\\040b rw - tmpfs tmpfs rw\n" +
		"25 22 0:24 / /data/c rw master:1 - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w\n"
	if err := os.WriteFile(filepath.Join(dir, "mountinfo"), []byte(info), 0o644); err != nil {
		t.Fatal(err)
	}
	if !Exists(root, 42) || Exists(root, 43) {
		t.Error("Exists does not read the root given")
	}
	if ns, err := MountNamespace(root, 42); err != nil || ns != 4026531841 {
		t.Errorf("mount namespace = %d, %v; want 4026531841", ns, err)
	}
	mounts, err := Mounts(root, 42)
	want := []Mount{{22, "/data", "ext4", "rw"}, {23, "/data/proc", "proc", "rw"}, {24, "/data/a b", "tmpfs", "rw"},
		{25, "/data/c", "overlay", "rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w"}}
	if err != nil || !slices.Equal(mounts, want) {
		t.Errorf("mounts = %+v, %v; want %+v", mounts, err, want)
	}
}
