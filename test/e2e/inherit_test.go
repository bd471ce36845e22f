package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/alert"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestNewImageVersionInheritsTheProfile rolls a repository out to a new
// digest that has no profile of its own: its container runs on the
// profile of the promoted previous version, in monitor mode, and what it
// does beyond that profile is alerted (labelled with the parent) and
// learned as the new version's delta.
func TestNewImageVersionInheritsTheProfile(t *testing.T) {
	testutil.RequireRoot(t)
	ns := fmt.Sprintf("vigil-e2e-inherit-%d", os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns)
	d := containerdtest.Start(t)
	v1 := containerdtest.BusyboxImage(t)
	files, err := ctrd.BusyboxFiles()
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, ctrd.RuntimeDirs()...)
	files = append(files, ctrd.File{Path: "etc/release", Mode: 0o644, Data: []byte("2\n")})
	v2, err := ctrd.BuildImage(t.TempDir(), "vigil.test/busybox:2", files, []string{"/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	d.Import(t, ns, v1)
	d.Import(t, ns, v2)
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
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.ProfilesDir, cfg.AlertsFile = "e2e-node", t.TempDir(), profiles, alerts
	cfg.ContainerdSocket = d.Address
	cfg.PinDir = ""
	cfg.Inherit = profile.InheritMonitor
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{scope}
	a, reg := startAgent(t, cfg)

	c := d.Run(t, containerdtest.RunOptions{Image: v2, Namespace: ns, Args: []string{"/bin/sleep", "3600"},
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
