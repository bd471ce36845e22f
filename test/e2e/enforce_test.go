package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestEnforceOnThisKernel learns a container, promotes its profile to
// enforce, and checks each hook with the tier this machine has: a
// disallowed exec is killed, a disallowed connect refused (EPERM), a
// disallowed capability use killed, a disallowed read refused (EPERM, by
// fanotify); what the profile allows still works, and the host is untouched.
func TestEnforceOnThisKernel(t *testing.T) {
	testutil.RequireRoot(t)
	ns := fmt.Sprintf("vigil-e2e-enforce-%d", os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns)
	d := containerdtest.Start(t)
	busybox, probe := containerdtest.BusyboxImage(t), containerdtest.ProbeImage(t)
	d.Import(t, ns, busybox)
	d.Import(t, ns, probe)
	digest := busybox.ManifestDigest.String()

	tools := t.TempDir()
	copyFile(t, "/bin/busybox", filepath.Join(tools, "tool"), 0o755)
	if err := os.WriteFile(filepath.Join(tools, "secret"), []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0") // a port for the host's own connect
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	profiles := t.TempDir()
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.ProfilesDir, cfg.AlertsFile = "e2e-node", t.TempDir(), profiles, alerts
	cfg.ContainerdSocket = d.Address
	cfg.PinDir = "" // enforcement ends with the test
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{scope}
	a, _ := startAgent(t, cfg)
	tiers := map[string]enforce.Tier{}
	for _, ht := range a.Tiers() {
		tiers[ht.Hook] = ht.Tier
		t.Logf("tier of %s: %s (%s)", ht.Hook, ht.Tier, ht.Reason)
	}

	c := d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: ns, Args: []string{"/bin/sleep", "3600"},
		Binds: map[string]string{tools: "/opt/tools"}})
	// cat is learned, as an applet of busybox, for the refused read below;
	// chroot too (a NOEXEC applet, judged at its rename), not its capability.
	const normal = "ls / >/dev/null; cat /dev/null; nc -w 1 127.0.0.1 8080 </dev/null; chroot --help >/dev/null 2>&1; true"
	execIn(t, c, normal)
	execIn(t, c, normal)
	learned := waitDraft(t, a, digest, func(p *profile.Profile) bool { return len(p.Spec.Network) > 0 })
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeEnforce, 1
	doc, err := profile.Encode(learned)
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "busybox.yaml", doc)
	waitFor(t, "the kernel to enforce the profile", func() bool {
		ci, ok := a.Container(c.ID)
		return ok && a.Enforcing(ci)
	})

	t.Run("allowed behaviour still works", func(t *testing.T) {
		code, out := c.Exec(t, "/bin/sh", "-c", "ls / >/dev/null && nc -w 1 127.0.0.1 8080 </dev/null; echo done")
		if code != 0 || !strings.Contains(out, "done") || strings.Contains(out, "not permitted") {
			t.Errorf("the learned workload under enforcement: %d %q", code, out)
		}
	})
	if tiers["exec"] == enforce.TierSignal {
		t.Run("disallowed exec is killed", func(t *testing.T) {
			_, out := c.Exec(t, "/bin/sh", "-c", "/opt/tools/tool; echo rc=$?")
			// Run, busybox would print "tool: applet not found" and exit 127.
			if strings.Contains(out, "applet") || !strings.Contains(out, "rc=137") {
				t.Errorf("exec of a binary outside the profile: %q, want it killed (rc=137) before it ran", out)
			}
		})
	}
	if tiers["connect"] == enforce.TierCgroup {
		t.Run("disallowed connect is refused", func(t *testing.T) {
			_, out := c.Exec(t, "/bin/sh", "-c", "nc -w 1 127.0.0.1 9999 </dev/null; true")
			if !strings.Contains(out, "not permitted") {
				t.Errorf("connect outside the profile: %q, want EPERM", out)
			}
		})
	}
	if tiers["capability"] == enforce.TierSignal {
		t.Run("disallowed capability is stopped", func(t *testing.T) {
			_, out := c.Exec(t, "/bin/sh", "-c", "chroot / echo ran; echo rc=$?")
			if strings.Contains(out, "ran") || !strings.Contains(out, "rc=137") {
				t.Errorf("CAP_SYS_CHROOT outside the profile: %q, want the process killed", out)
			}
		})
	}
	t.Run("disallowed read is refused", func(t *testing.T) {
		code, out := c.Exec(t, "/bin/sh", "-c", "cat /opt/tools/secret")
		wantDenied := tiers["open"] != enforce.TierAlertOnly
		if denied := strings.Contains(out, "not permitted"); denied != wantDenied || (!wantDenied && code != 0) {
			t.Errorf("read outside the profile with open tier %s: %d %q", tiers["open"], code, out)
		}
	})
	t.Run("the host is untouched", func(t *testing.T) {
		host := exec.Command(filepath.Join(tools, "tool"), "echo", "ran")
		host.Args[0] = "busybox" // the applet is chosen by argv[0]
		if out, err := host.CombinedOutput(); err != nil || !strings.Contains(string(out), "ran") {
			t.Errorf("the same binary on the host: %v %q", err, out)
		}
		conn, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Errorf("a connect from the host: %v", err)
		} else {
			conn.Close()
		}
	})
	t.Run("another image's container is untouched", func(t *testing.T) {
		other := d.Run(t, containerdtest.RunOptions{Image: probe, Namespace: ns, Args: []string{"/probe", "cgroup", "/dev/null"}})
		if code := other.Wait(t, time.Minute); code != 0 {
			t.Errorf("a container of an image with no enforced profile exited %d: %s", code, other.Output.String())
		}
	})

	var got []alertLine
	waitFor(t, "the enforcement alerts", func() bool { got = readAlerts(t, alerts); return len(got) >= 4 })
	actions := map[string]string{}
	for _, al := range got {
		actions[summaryOf(al)] = al.Action
	}
	readAction := "ACTION_BLOCKED"
	if tiers["open"] == enforce.TierAlertOnly {
		readAction = "ACTION_ALERTED"
	}
	want := map[string]string{
		"exec /opt/tools/tool":       "ACTION_KILLED",
		"connect 127.0.0.1:9999/tcp": "ACTION_BLOCKED",
		"capability CAP_SYS_CHROOT":  "ACTION_KILLED",
		"open /opt/tools/secret":     readAction,
	}
	for what, action := range want {
		if actions[what] != action {
			t.Errorf("alert for %s has action %q, want %q (all: %v)", what, actions[what], action, actions)
		}
	}
}

func summaryOf(a alertLine) string { return summaries([]alertLine{a})[0] }
