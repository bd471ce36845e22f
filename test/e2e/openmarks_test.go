package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// backToBack is how many enforced containers TestOpenMarksOfContainersStartedBackToBack starts.
const backToBack = 12

// TestOpenMarksOfContainersStartedBackToBack starts enforced containers one
// right after the other while the agent runs, each reading a file outside
// its profile as the first thing its workload does: on the fanotify tier
// every read must be refused (the container's mounts were marked before its
// workload ran), the listener must hold marks on the containers' own mounts
// only — never on a mount of the host's namespace — and none once the
// containers are gone.
func TestOpenMarksOfContainersStartedBackToBack(t *testing.T) {
	busybox := containerdtest.BusyboxImage(t)
	w := newWorld(t, "marks", busybox)
	digest := busybox.ManifestDigest.String()

	tools := t.TempDir()
	for name, data := range map[string]string{"ok": "ok\n", "secret": "s3cret\n"} {
		if err := os.WriteFile(filepath.Join(tools, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	profiles := t.TempDir()
	cfg := w.agentConfig(t)
	cfg.ProfilesDir = profiles
	a, reg := startAgent(t, cfg)
	for _, ht := range a.Tiers() {
		if ht.Hook == "open" && ht.Tier != enforce.TierFanotify {
			t.Skipf("opens are enforced by %s here, not by the fanotify listener: %s", ht.Tier, ht.Reason)
		}
	}
	group := fanotifyGroup(t)

	binds := map[string]string{tools: "/opt/tools"}
	learner := w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Binds: binds,
		Args: []string{"/bin/sh", "-c", "cat /opt/tools/ok; exec sleep 3600"}})
	learned := waitDraft(t, a, digest, func(p *profile.Profile) bool {
		return hasFile(p, "/opt/tools/ok") && len(p.Spec.Executables) > 0 // busybox: sh, cat and sleep
	})
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeEnforce, 1
	doc, err := profile.Encode(learned)
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "busybox.yaml", doc)
	waitFor(t, "the learner's mounts to be marked", func() bool {
		return len(marks(t, group)) > 0
	})

	// The workload's first open is outside its profile.
	const script = "cat /opt/tools/secret; echo rc=$?; exec sleep 3600"
	started := time.Now()
	cs := []*containerdtest.Container{learner}
	for range backToBack {
		cs = append(cs, w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Binds: binds,
			Args: []string{"/bin/sh", "-c", script}}))
	}
	t.Logf("%d containers started in %v", backToBack, time.Since(started))
	waitFor(t, "every container's first read", func() bool {
		for _, c := range cs[1:] {
			if !strings.Contains(c.Output.String(), "rc=") {
				return false
			}
		}
		return true
	})

	host := mountIDs(t, "self")
	for id := range mountIDs(t, "2") { // the initial namespace, where the agent's may differ
		host[id] = true
	}
	marked := marks(t, group)
	own := map[uint64]string{}
	refused := 0
	for i, c := range cs {
		pid := strconv.Itoa(int(c.Task.Pid()))
		root := rootMountID(t, pid)
		for id := range mountIDs(t, pid) {
			own[id] = c.ID
		}
		if !marked[root] {
			t.Errorf("container %d (%s): its root (mount %d) is not marked", i, c.ID, root)
		}
		if i == 0 {
			continue
		}
		if out := c.Output.String(); strings.Contains(out, "not permitted") && strings.Contains(out, "rc=1") {
			refused++
		} else {
			t.Errorf("container %d (%s): its first read outside the profile: %q, want it refused", i, c.ID, out)
		}
	}
	hostMarked := 0
	for id := range marked {
		if host[id] {
			hostMarked++
			t.Errorf("mount %d of the host's namespace is marked", id)
		} else if own[id] == "" {
			t.Errorf("mount %d, of none of the containers, is marked", id)
		}
	}
	t.Logf("containers with their first read refused: %d of %d; marks: %d, on host mounts: %d; marked before the workload: %v, holding it: %v, late: %v",
		refused, backToBack, len(marked), hostMarked,
		metric(t, reg, "vigil_fanotify_container_marks_total", "outcome", "before_workload"),
		metric(t, reg, "vigil_fanotify_container_marks_total", "outcome", "held"),
		metric(t, reg, "vigil_fanotify_container_marks_total", "outcome", "late"))

	for _, c := range cs {
		c.Kill(t)
	}
	waitFor(t, "the marks to go with the containers", func() bool {
		return len(marks(t, group)) == 0
	})
}

// fanotifyGroup is the fdinfo of the agent's fanotify group, in this process.
func fanotifyGroup(t *testing.T) string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && link == "anon_inode:[fanotify]" {
			found = append(found, filepath.Join("/proc/self/fdinfo", fd.Name()))
		}
	}
	if len(found) != 1 {
		t.Fatalf("fanotify groups in this process: %v, want the agent's one", found)
	}
	return found[0]
}

// marks are the mounts a fanotify group marks, from its fdinfo
// ("fanotify mnt_id:<hex> mflags:… mask:… ignored_mask:…").
func marks(t *testing.T, fdinfo string) map[uint64]bool {
	t.Helper()
	b, err := os.ReadFile(fdinfo)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint64]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "fanotify mnt_id:")
		if !ok {
			continue
		}
		hex, _, _ := strings.Cut(rest, " ")
		id, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			t.Fatalf("fanotify fdinfo line %q: %v", line, err)
		}
		ids[id] = true
	}
	return ids
}

// mountIDs are the ids of the mounts of process pid's mount namespace.
func mountIDs(t *testing.T, pid string) map[uint64]bool {
	t.Helper()
	ids := map[uint64]bool{}
	for _, f := range mountinfo(t, pid) {
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	return ids
}

// rootMountID is the id of the mount at process pid's root.
func rootMountID(t *testing.T, pid string) uint64 {
	t.Helper()
	var root uint64
	for _, f := range mountinfo(t, pid) {
		if f[4] == "/" { // the last one mounted there is on top
			id, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			root = id
		}
	}
	if root == 0 {
		t.Fatalf("process %s has no root mount", pid)
	}
	return root
}

func mountinfo(t *testing.T, pid string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", pid, "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 5 {
			lines = append(lines, fields)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
