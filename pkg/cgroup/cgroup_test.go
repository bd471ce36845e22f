package cgroup

import (
	"strings"
	"testing"
)

func TestFindCgroup2Mount(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo, mountpoint, root string
		wantErr                           bool
	}{
		{
			name: "v1/v2 hybrid",
			mountinfo: `30 1 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
			mountpoint: "/sys/fs/cgroup/unified", root: "/",
		},
		{
			name:       "unified, with optional fields",
			mountinfo:  "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
			mountpoint: "/sys/fs/cgroup", root: "/",
		},
		{
			name: "whole hierarchy preferred over a subtree",
			mountinfo: `50 1 0:26 /kubepods/pod1 /host/cg rw - cgroup2 cgroup2 rw
51 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
`,
			mountpoint: "/sys/fs/cgroup", root: "/",
		},
		{
			name:       "only a subtree, escaped mount point",
			mountinfo:  `50 1 0:26 /kubepods/pod1 /my\040cgroup rw - cgroup2 cgroup2 rw` + "\n",
			mountpoint: "/my cgroup", root: "/kubepods/pod1",
		},
		{
			name:      "v1 only",
			mountinfo: "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
			wantErr:   true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp, root, err := FindMount(strings.NewReader(tc.mountinfo))
			if (err != nil) != tc.wantErr || mp != tc.mountpoint || root != tc.root {
				t.Fatalf("FindMount = %q, %q, %v; want %q, %q, error %v", mp, root, err, tc.mountpoint, tc.root, tc.wantErr)
			}
		})
	}
}

func TestCgroupDirWithinMountRoot(t *testing.T) {
	c := &FS{mountpoint: "/host/cg", root: "/kubepods"}
	if d, err := c.Dir("/kubepods/pod1/abc"); err != nil || d != "/host/cg/pod1/abc" {
		t.Errorf("dir = %q, %v; want /host/cg/pod1/abc", d, err)
	}
	if d, err := c.Dir("/system.slice/x"); err == nil {
		t.Errorf("dir of a cgroup outside the mount's root = %q, want an error", d)
	}
}
