package ctrd

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// BusyboxPath is where Debian's busybox-static puts its static binary.
const BusyboxPath = "/bin/busybox"

// BusyboxFiles are /bin/busybox from busybox-static and a /bin symlink per
// applet: a userland for an image.
func BusyboxFiles() ([]File, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%w (install busybox-static)", err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	files := []File{{Path: "bin/busybox", Mode: 0o755, Data: bin}}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			files = append(files, File{Path: "bin/" + applet, Mode: 0o777, LinkTarget: "busybox"})
		}
	}
	return files, nil
}

// RuntimeDirs are the mount points runc expects in a rootfs.
func RuntimeDirs() []File {
	var dirs []File
	for _, d := range []string{"dev", "proc", "sys", "tmp", "etc"} {
		dirs = append(dirs, File{Path: d, Mode: 0o755, Dir: true})
	}
	return dirs
}
