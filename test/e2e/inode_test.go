package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestReusedInodeNumberIsNews is issue 13 item 4 on the real kernel and
// containerd: in a monitored container whose profile allows /tmp/a, a file
// /tmp/bN created right after /tmp/a was read and deleted takes a's inode
// number on the container's overlay. Each such bN must still be alerted:
// the kernel's cache of allowed opens must not take it for a.
func TestReusedInodeNumberIsNews(t *testing.T) {
	testutil.RequireRoot(t)
	const trials, attempts = 10, 40
	busybox := containerdtest.BusyboxImage(t)
	w := newWorld(t, "inode", busybox)
	digest := busybox.ManifestDigest.String()

	profiles := t.TempDir()
	doc, err := profile.Encode(&profile.Profile{Metadata: profile.Metadata{Image: "busybox", Digest: digest, Version: 1,
		Mode: profile.ModeMonitor}, Spec: profile.Spec{Files: []profile.FileEntry{{Path: "/tmp/a", Access: profile.AccessRead | profile.AccessWrite}}}})
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "busybox.yaml", doc)
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := w.agentConfig(t)
	cfg.ProfilesDir, cfg.AlertsFile = profiles, alerts
	a, reg := startAgent(t, cfg)

	c := w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"}})
	waitFor(t, "the monitor profile applied to the container", func() bool {
		p, ok := a.ProfileInForce(digest)
		return ok && p.Metadata.Mode == profile.ModeMonitor
	})
	// Each attempt: write and read a (allowed: its opens are cached), delete
	// it, create and read bN at once; print both inode numbers.
	script := fmt.Sprintf(`for i in $(seq %d); do
	echo x >/tmp/a; cat /tmp/a >/dev/null; ia=$(stat -c %%i /tmp/a); rm /tmp/a
	echo y >/tmp/b$i; ib=$(stat -c %%i /tmp/b$i); cat /tmp/b$i >/dev/null
	echo "$i $ia $ib"
done`, attempts)
	code, out := c.Exec(t, "/bin/sh", "-c", script)
	if code != 0 {
		t.Fatalf("the attempts exited %d: %s", code, out)
	}
	var reused []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var i int
		var ia, ib uint64
		if _, err := fmt.Sscanf(line, "%d %d %d", &i, &ia, &ib); err != nil {
			t.Fatalf("attempt output %q: %v", line, err)
		}
		if ia == ib && len(reused) < trials {
			reused = append(reused, fmt.Sprintf("/tmp/b%d", i))
		}
	}
	if len(reused) == 0 {
		t.Skipf("the container's overlay never reused an inode number in %d attempts: nothing to check", attempts)
	}
	if len(reused) < trials {
		t.Fatalf("only %d of %d attempts reused a's inode number, want %d", len(reused), attempts, trials)
	}

	waitProcessed(t, reg)
	alerted := map[string]bool{}
	for _, al := range readAlerts(t, alerts) {
		if al.Kind == "KIND_OPEN" && al.Container.ID == c.ID {
			alerted[al.Object.Path] = true
		}
	}
	var hidden []string
	for _, b := range reused {
		if !alerted[b] {
			hidden = append(hidden, b)
		}
	}
	if len(hidden) > 0 {
		t.Fatalf("%d of %d files that reused an allowed file's inode number raised no alert: %v", len(hidden), trials, hidden)
	}
	t.Logf("%d of %d files that reused an allowed file's inode number were alerted", trials, trials)
}
