package e2e

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// TestEnforcedExecutables learns a busybox container, enforces its profile
// and tries what a workload does to run a program its profile does not
// allow through one it does: a program written at run time onto an allowed
// path (renamed over /bin/busybox) must be stopped and alerted, as a new
// path is; an applet of the allowed busybox that the workload never ran
// (nc), however it is named, too; a program on a volume is judged by its
// path.
func TestEnforcedExecutables(t *testing.T) {
	busybox := containerdtest.BusyboxImage(t)
	w := newWorld(t, "exec", busybox)
	digest := busybox.ManifestDigest.String()
	tools := t.TempDir()
	copyFile(t, "/bin/busybox", filepath.Join(tools, "tool"), 0o755)

	profiles := t.TempDir()
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := w.agentConfig(t)
	cfg.ProfilesDir, cfg.AlertsFile = profiles, alerts
	a, _ := startAgent(t, cfg)
	var execTier enforce.Tier
	for _, ht := range a.Tiers() {
		if ht.Hook == "exec" {
			execTier = ht.Tier
		}
	}
	// What a stopped exec leaves the shell: killed after the exec (the
	// signal tier), or refused by it (BPF LSM).
	stopped := map[enforce.Tier]string{enforce.TierSignal: "rc=137", enforce.TierLSM: "rc=126"}[execTier]
	if stopped == "" {
		t.Fatalf("the exec hook's tier is %q: nothing stops an exec here", execTier)
	}

	c := w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"},
		Binds: map[string]string{tools: "/opt/tools"}})
	const learn = "echo hi >/tmp/f; cat /tmp/f; cp /bin/busybox /tmp/x; mv /tmp/x /tmp/y; rm /tmp/y; /opt/tools/tool; true"
	execIn(t, c, learn)
	learned := waitDraft(t, a, digest, func(p *profile.Profile) bool {
		ok, _ := p.Allows(profile.Observation{Kind: profile.KindExec, Path: "/opt/tools/tool"})
		return ok
	})
	applets := map[string]bool{}
	for _, e := range learned.Spec.Executables {
		if e.Written {
			t.Errorf("the image's programs learned as written at run time: %s", e)
		}
		if e.Path == "/bin/busybox" {
			applets[e.As] = true
		}
	}
	// cp, mv and rm are not among them: busybox's shell runs such applets
	// in a fork of itself, without an exec.
	for _, applet := range []string{"sleep", "sh", "cat"} {
		if !applets[applet] {
			t.Errorf("busybox as %s not learned (learned: %v)", applet, applets)
		}
	}
	if applets[""] {
		t.Error("busybox learned without its applet: every applet allowed")
	}
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeEnforce, 1
	doc, err := profile.Encode(learned)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("enforced profile:\n%s", doc)
	writeProfile(t, profiles, "busybox.yaml", doc)
	waitFor(t, "the kernel to enforce the profile", func() bool {
		ci, ok := a.Container(c.ID)
		return ok && a.Enforcing(ci)
	})

	run := func(script string) string {
		_, out := c.Exec(t, "/bin/sh", "-c", script)
		return out
	}
	t.Run("the learned workload runs", func(t *testing.T) {
		if out := run(learn + "; echo rc=$?"); !strings.Contains(out, "hi") || !strings.Contains(out, "rc=0") {
			t.Errorf("the learned workload under enforcement: %q", out)
		}
	})
	t.Run("a program on a volume is judged by its path", func(t *testing.T) {
		// Run, busybox says "tool: applet not found" and exits 127.
		if out := run("/opt/tools/tool; echo rc=$?"); !strings.Contains(out, "rc=127") {
			t.Errorf("the allowed program on a volume: %q, want it run (rc=127)", out)
		}
	})
	t.Run("a program written at run time onto a new path is stopped", func(t *testing.T) {
		if out := run("cp /bin/busybox /tmp/x && /tmp/x echo ran; echo rc=$?"); strings.Contains(out, "ran\n") || !strings.Contains(out, stopped) {
			t.Errorf("a copy of busybox run from /tmp: %q, want it stopped (%s)", out, stopped)
		}
	})
	t.Run("an applet the workload never ran is stopped while sh and cat run", func(t *testing.T) {
		for _, script := range []string{
			"cat /tmp/f; nc -h; echo rc=$?",                    // the shell runs /proc/self/exe as nc
			"cat /tmp/f; /bin/busybox nc -h; echo rc=$?",       // busybox takes the applet from argv[1]
			"cat /tmp/f; (exec -a nc /bin/cat -h); echo rc=$?", // argv[0] names nc, whatever the file
		} {
			out := run(script)
			if !strings.Contains(out, "hi") || strings.Contains(out, "Usage") || !strings.Contains(out, stopped) {
				t.Errorf("%q: %q, want cat to run and nc stopped (%s)", script, out, stopped)
			}
		}
	})
	// Last: the container's /bin/busybox is a written file from here on.
	t.Run("a program written at run time onto an allowed path is stopped", func(t *testing.T) {
		out := run("cp /bin/busybox /tmp/x && mv /tmp/x /bin/busybox && /bin/cat /tmp/f; echo rc=$?")
		if strings.Contains(out, "hi") || !strings.Contains(out, stopped) {
			t.Errorf("a copy renamed over the allowed /bin/busybox: %q, want it stopped (%s)", out, stopped)
		}
	})

	action := map[enforce.Tier]string{enforce.TierSignal: "ACTION_KILLED", enforce.TierLSM: "ACTION_BLOCKED"}[execTier]
	want := map[string]bool{"exec /tmp/x (written)": false, "exec /bin/busybox as nc": false, "exec /bin/busybox as cat (written)": false}
	t.Cleanup(func() {
		if t.Failed() {
			for _, al := range readAlerts(t, alerts) {
				t.Logf("alert: %s %s %q", summaryOf(al), al.Action, al.Rule)
			}
		}
	})
	waitFor(t, "the alerts of the stopped execs", func() bool {
		for _, al := range readAlerts(t, alerts) {
			s := summaryOf(al)
			if al.Object.Applet != "" {
				s += " as " + al.Object.Applet
			}
			if al.Object.Written && strings.Contains(al.Rule, "written at run time") {
				s += " (written)"
			}
			if _, ok := want[s]; ok && al.Action == action {
				want[s] = true
			}
		}
		return !slices.Contains(slices.Collect(maps.Values(want)), false)
	})
}
