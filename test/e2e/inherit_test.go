package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/alert"
	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// TestNewImageVersionInheritsTheProfile rolls a repository out to a new
// digest that has no profile of its own: its container runs on the
// profile of the promoted previous version, in monitor mode, and what it
// does beyond that profile is alerted (labelled with the parent) and
// learned as the new version's delta.
func TestNewImageVersionInheritsTheProfile(t *testing.T) {
	v1 := containerdtest.BusyboxImage(t)
	v2 := containerdtest.BusyboxImageWith(t, "vigil.test/busybox:2", ctrd.File{Path: "etc/release", Mode: 0o644, Data: []byte("2\n")})
	w := newWorld(t, "inherit", v1, v2)
	parentDigest, childDigest := v1.ManifestDigest.String(), v2.ManifestDigest.String()

	tools := t.TempDir()
	copyFile(t, "/bin/busybox", filepath.Join(tools, "tool"), 0o755)
	profiles, alerts := t.TempDir(), filepath.Join(t.TempDir(), "alerts.jsonl")
	writeProfile(t, profiles, "busybox-1.yaml", []byte(`apiVersion: vigil.dev/v1
kind: ImageProfile
metadata:
  image: `+containerdtest.BusyboxImageName+`
  digest: `+parentDigest+`
  version: 3
  mode: enforce
spec:
  executables:
    - path: /bin/busybox
  files:
    - path: /**
      access: readwrite
`))
	cfg := w.agentConfig(t)
	cfg.ProfilesDir, cfg.AlertsFile = profiles, alerts
	cfg.Inherit = profile.InheritMonitor
	a, reg := startAgent(t, cfg)

	c := w.d.Run(t, containerdtest.RunOptions{Image: v2, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"},
		Binds: map[string]string{tools: "/opt/tools"}})
	execIn(t, c, "cat /etc/release >/dev/null; ls / >/dev/null")
	execIn(t, c, "/opt/tools/tool true; true") // busybox named tool: runs, no such applet
	waitProcessed(t, reg)

	got := readAlerts(t, alerts)
	if s := summaries(got); strings.Join(s, "|") != "exec /opt/tools/tool" {
		t.Fatalf("alerts = %q, want only the exec the parent's profile does not allow", s)
	}
	al := got[0]
	if al.Container.ImageDigest != childDigest || al.Labels["mode"] != "monitor" || al.Action != "ACTION_ALERTED" ||
		al.Labels[alert.LabelInheritedFrom] != profile.Ref(parentDigest, 3) {
		t.Fatalf("alert: %+v; want one of %s in monitor mode, inherited from %s@3", al, childDigest, parentDigest)
	}
	delta := waitDraft(t, a, childDigest, func(p *profile.Profile) bool { return len(p.Spec.Executables) > 0 })
	if delta.Metadata.InheritedFrom != profile.Ref(parentDigest, 3) || len(delta.Spec.Executables) != 1 ||
		delta.Spec.Executables[0].Path != "/opt/tools/tool" || len(delta.Spec.Files) != 0 {
		doc, _ := profile.Encode(delta)
		t.Fatalf("the delta learned:\n%s\nwant only the exec of /opt/tools/tool, inherited from %s@3", doc, parentDigest)
	}
}
