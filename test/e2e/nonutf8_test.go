package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/alert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestNonUTF8NameDoesNotHideAWorkload is the attack of issue 15 item 1 on
// the real kernel, agent and collector: in a monitored container, a copy of
// busybox named "/tmp/\xff\xfeevil" is written and run. The collector
// stores the write and the exec, with the name escaped for display, its
// exact bytes, and the invalid_utf8 label.
func TestNonUTF8NameDoesNotHideAWorkload(t *testing.T) {
	testutil.RequireRoot(t)
	ns := fmt.Sprintf("vigil-e2e-utf8-%d", os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns)
	d := containerdtest.Start(t)
	busybox := containerdtest.BusyboxImage(t)
	d.Import(t, ns, busybox)
	digest := busybox.ManifestDigest.String()

	profiles := t.TempDir()
	doc, err := profile.Encode(&profile.Profile{Metadata: profile.Metadata{Image: "busybox", Digest: digest, Version: 1,
		Mode: profile.ModeMonitor}, Spec: profile.Spec{Executables: []profile.ExecEntry{{Path: "/bin/sleep"}}}})
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "busybox.yaml", doc)
	consumer, collectorCfg := collectorFor(t, "utf8-node", time.Hour)
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.AlertsFile, cfg.ProfilesDir = "utf8-node", t.TempDir(), "", profiles
	cfg.ContainerdSocket, cfg.PinDir = d.Address, ""
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{scope}
	cfg.Collector = collectorCfg
	a, _ := startAgent(t, cfg)

	c := d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: ns, Args: []string{"/bin/sleep", "3600"}})
	waitFor(t, "the profile applied to the container", func() bool {
		p, ok := a.ProfileInForce(digest)
		return ok && p.Metadata.Mode == profile.ModeMonitor
	})
	execIn(t, c, `g="/tmp/$(printf '\377\376')evil"; cp /bin/busybox "$g"; "$g" true; true`) // busybox runs, then finds no applet of that name

	const evil = "/tmp/\xff\xfeevil"
	var exec, write *vigilv1.Alert
	waitFor(t, "the exec and the write of the name stored by the collector", func() bool {
		r, err := consumer.ListAlerts(context.Background(), &vigilv1.ListAlertsRequest{})
		if err != nil {
			return false
		}
		for _, al := range r.Alerts {
			if !bytes.Equal(al.Object.GetRawPath(), []byte(evil)) {
				continue
			}
			switch al.Kind {
			case vigilv1.Kind_KIND_EXEC:
				exec = al
			case vigilv1.Kind_KIND_OPEN:
				write = al
			}
		}
		return exec != nil && write != nil
	})
	for _, al := range []*vigilv1.Alert{exec, write} {
		if al.Object.GetPath() != `/tmp/\xff\xfeevil` || al.Container.GetId() != c.ID ||
			!strings.Contains(al.Labels[alert.LabelInvalidUTF8], "object.path") {
			t.Errorf("%v alert: path %q, container %q, label %q", al.Kind, al.Object.GetPath(), al.Container.GetId(), al.Labels[alert.LabelInvalidUTF8])
		}
	}
	if !bytes.Equal(exec.Process.GetRawPath(), []byte(evil)) {
		t.Errorf("exec alert's process raw path %q, want %q", exec.Process.GetRawPath(), evil)
	}
}
