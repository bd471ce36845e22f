package procfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Dir is the directory of process pid in the procfs at root.
func Dir(root string, pid uint32) string {
	return filepath.Join(root, strconv.FormatUint(uint64(pid), 10))
}

// Exists reports whether process pid is in the procfs at root.
func Exists(root string, pid uint32) bool {
	_, err := os.Stat(Dir(root, pid))
	return err == nil
}

// FD returns the path an open file descriptor of this process refers to.
func FD(root string, fd int) (string, error) {
	return os.Readlink(filepath.Join(root, "self", "fd", strconv.Itoa(fd)))
}

// Mount is one mount of a process's mount namespace.
type Mount struct {
	ID     uint64 // the mount's id, as statx's STATX_MNT_ID gives it
	Point  string // as the process sees it
	FSType string
	// Options are the filesystem's own (super block) options, as
	// mountinfo escapes them: an overlay's lowerdir and upperdir.
	Options string
}

// Mounts lists the mounts of process pid's mount namespace, from its
// mountinfo.
func Mounts(root string, pid uint32) ([]Mount, error) {
	f, err := os.Open(filepath.Join(Dir(root, pid), "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("mounts of %d: %w", pid, err)
	}
	defer f.Close()
	var mounts []Mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 {
			continue
		}
		id, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		var fstype, options string
		if post := strings.Fields(post); len(post) > 0 {
			fstype = post[0]
			if len(post) > 2 {
				options = post[2]
			}
		}
		mounts = append(mounts, Mount{ID: id, Point: Unescape(fields[4]), FSType: fstype, Options: options})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mounts of %d: %w", pid, err)
	}
	return mounts, nil
}

// Unescape undoes mountinfo's octal escapes (\040 for a space).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
