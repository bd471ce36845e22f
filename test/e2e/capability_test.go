package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// TestCapabilitiesAreTheWorkloadsOwn learns a busybox container that
// lists, reads, creates files in its overlay, tries to set the clock and
// chroots, then enforces the learned profile on a second container doing
// the same. Only checks the workload's own task made on its own
// credentials, granted, count: the draft has CAP_SYS_CHROOT and no
// capability outside the container's effective set — none of overlayfs's
// checks on the mounter's credentials, none of the kernel's noaudit
// CAP_SYS_ADMIN checks of every mmap, not the refused CAP_SYS_TIME — and a
// container whose profile lacks CAP_SYS_ADMIN and CAP_DAC_* is not killed
// for creating a file.
func TestCapabilitiesAreTheWorkloadsOwn(t *testing.T) {
	busybox := containerdtest.BusyboxImage(t)
	w := newWorld(t, "cap", busybox)
	digest := busybox.ManifestDigest.String()

	profiles := t.TempDir()
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := w.agentConfig(t)
	cfg.ProfilesDir, cfg.AlertsFile = profiles, alerts
	a, reg := startAgent(t, cfg)
	tiers := map[string]enforce.HookTier{}
	for _, ht := range a.Tiers() {
		tiers[ht.Hook] = ht
	}

	// The work creates files in directories of the image (an overlayfs
	// copy-up, made with containerd's credentials) and reads them back.
	const work = "echo data >/tmp/f; id; cat /tmp/f; ls /; echo x >/etc/out; cat /etc/out >/dev/null"
	learner := w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"}})
	effective := capEff(t, learner)
	execIn(t, learner, work)
	// settimeofday needs CAP_SYS_TIME, which the container lacks: refused.
	if code, out := learner.Exec(t, "/bin/sh", "-c", "date -s 2001-01-01"); !strings.Contains(out, "not permitted") {
		t.Fatalf("date -s in the container: %d %q, want it refused", code, out)
	}
	execIn(t, learner, work)
	execIn(t, learner, "chroot / true") // a use: CAP_SYS_CHROOT, granted to the task itself
	waitDraft(t, a, digest, func(p *profile.Profile) bool {
		return hasFile(p, "/etc/out") && slices.ContainsFunc(p.Spec.Capabilities, func(e profile.CapabilityEntry) bool {
			return e.Capability == unix.CAP_SYS_CHROOT
		})
	})
	waitProcessed(t, reg)
	learned := waitDraft(t, a, digest, func(*profile.Profile) bool { return true })

	var caps []string
	for _, e := range learned.Spec.Capabilities {
		name := sensor.CapabilityName(int32(e.Capability))
		caps = append(caps, name)
		if effective&(1<<e.Capability) == 0 {
			t.Errorf("learned %s, outside the container's effective set %#x: not a capability its task could use", name, effective)
		}
	}
	t.Logf("learned capabilities: %v (effective set %#x)", caps, effective)
	for _, c := range []int32{unix.CAP_SYS_ADMIN, unix.CAP_SYS_TIME, unix.CAP_DAC_READ_SEARCH} {
		if slices.Contains(caps, sensor.CapabilityName(c)) {
			t.Errorf("learned %s: the workload never used it (learned: %v)", sensor.CapabilityName(c), caps)
		}
	}

	// A reviewer keeps no CAP_SYS_ADMIN or CAP_DAC_* the learner may have
	// taken, and enforces.
	learned.Spec.Capabilities = slices.DeleteFunc(learned.Spec.Capabilities, func(e profile.CapabilityEntry) bool {
		return e.Capability == unix.CAP_SYS_ADMIN || e.Capability == unix.CAP_DAC_OVERRIDE || e.Capability == unix.CAP_DAC_READ_SEARCH
	})
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeEnforce, 1
	doc, err := profile.Encode(learned)
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "busybox.yaml", doc)
	waitFor(t, "the enforce profile to be in force", func() bool {
		p, ok := a.ProfileInForce(digest)
		return ok && p.Metadata.Mode == profile.ModeEnforce
	})

	enforced := w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"}})
	waitFor(t, "the kernel to enforce the profile", func() bool {
		ci, ok := a.Container(enforced.ID)
		return ok && a.Enforcing(ci)
	})
	code, out := enforced.Exec(t, "/bin/sh", "-c", work+"; echo done")
	if code != 0 || !strings.Contains(out, "done") {
		t.Errorf("the learned work under enforcement (capability tier %s: %s): rc %d %q, want it to run", tiers["capability"].Tier, tiers["capability"].Reason, code, out)
	}
	waitProcessed(t, reg)
	for _, al := range readAlerts(t, alerts) {
		if al.Kind == "KIND_CAPABILITY" {
			t.Errorf("the learned work under enforcement raised %s (%s)", summaryOf(al), al.Action)
		}
	}
}

// capEff is the effective capability set of a container's first process.
func capEff(t *testing.T, c *containerdtest.Container) uint64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Task.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no CapEff in the container's status")
	return 0
}
