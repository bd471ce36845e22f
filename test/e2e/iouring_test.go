package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// TestIoUringRefusalAlerted enforces on a container a profile that allows
// io_uring (learned from its workload opening a file through an io_uring
// OPENAT): the open of a file outside the profile through io_uring, which
// the fanotify tier refuses and no open system call reports, must be
// alerted once, as blocked, with the ring's process.
func TestIoUringRefusalAlerted(t *testing.T) {
	probe := containerdtest.ProbeImage(t)
	w := newWorld(t, "iouring", probe)
	tools := t.TempDir()
	for name, data := range map[string]string{"ok": "ok\n", "secret": "s3cret\n"} {
		if err := os.WriteFile(filepath.Join(tools, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	profiles := t.TempDir()
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := w.agentConfig(t)
	cfg.ProfilesDir, cfg.AlertsFile = profiles, alerts
	a, _ := startAgent(t, cfg)
	for _, ht := range a.Tiers() {
		if ht.Hook == "open" && ht.Tier != enforce.TierFanotify {
			t.Skipf("opens are enforced by %s here, not by the fanotify listener: %s", ht.Tier, ht.Reason)
		}
	}
	c := w.d.Run(t, containerdtest.RunOptions{Image: probe, Namespace: w.ns, Args: []string{"/probe", "sleep"},
		Binds: map[string]string{tools: "/opt/tools"}})
	if code, out := c.Exec(t, "/probe", "iouring", "/opt/tools/ok"); code != 0 || out != "ok\n" {
		t.Fatalf("learning: io_uring read of an allowed file: %d %q", code, out)
	}
	const openat = profile.IoUringOp(18) // IORING_OP_OPENAT
	learned := waitDraft(t, a, probe.ManifestDigest.String(), func(p *profile.Profile) bool {
		return slices.ContainsFunc(p.Spec.IoUring, func(e profile.IoUringEntry) bool { return e.Op == openat })
	})
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeEnforce, 1
	doc, err := profile.Encode(learned)
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "probe.yaml", doc)
	waitFor(t, "enforcement", func() bool {
		ci, ok := a.Container(c.ID)
		return ok && a.Enforcing(ci)
	})

	if code, out := c.Exec(t, "/probe", "iouring", "/opt/tools/secret"); code == 0 {
		t.Fatalf("io_uring read of a file outside the profile went through: %q", out)
	}
	var got []alertLine
	refused := func() []alertLine {
		var out []alertLine
		for _, al := range readAlerts(t, alerts) {
			if al.Kind == "KIND_OPEN" && al.Object.Path == "/opt/tools/secret" {
				out = append(out, al)
			}
		}
		return out
	}
	waitFor(t, "the refused io_uring open alerted", func() bool { got = refused(); return len(got) > 0 })
	time.Sleep(500 * time.Millisecond) // a second alert would have arrived by now
	if got = refused(); len(got) != 1 || got[0].Action != "ACTION_BLOCKED" || got[0].Container.ID != c.ID ||
		got[0].Process.Path != "/probe" {
		t.Fatalf("alerts of the refused io_uring open: %+v, want one, blocked, of /probe in container %s", got, c.ID)
	}
	t.Logf("io_uring open refused and alerted once as blocked: %s", got[0].Rule)
}
