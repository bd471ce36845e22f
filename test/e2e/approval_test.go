package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/vigil-dev/vigil/pkg/agent"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// The approved registry, and an image from another.
const unapprovedImageName = "evil.test/miner:1"

var approvedRegistry = []string{"vigil.test/*"}

// unapprovedLine is the part of an unapproved image's alert the tests check.
type unapprovedLine struct {
	Kind      string    `json:"kind"`
	Action    string    `json:"action"`
	Time      time.Time `json:"time"`
	Detail    string    `json:"detail"`
	Container struct {
		ID          string `json:"id"`
		Image       string `json:"image"`
		ImageDigest string `json:"image_digest"`
		Pod         string `json:"pod"`
		Namespace   string `json:"namespace"`
	} `json:"container"`
	Labels map[string]string `json:"labels"`
}

// unapprovedAlerts reads the unapproved images' alerts of an alerts file.
func unapprovedAlerts(t *testing.T, path string) map[string]unapprovedLine {
	t.Helper()
	out := map[string]unapprovedLine{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a unapprovedLine
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alerts file line: %v: %s", err, sc.Text())
		}
		if a.Kind == "KIND_UNAPPROVED_IMAGE" {
			out[a.Container.ID] = a
		}
	}
	return out
}

// approvalWorld is a world with two busybox images of different digests,
// one named in an approved registry and one not, and an agent applying
// policy, its configuration then changed by tweak (when not nil); marks is a
// directory every container sees at /mark, where markerRun's entrypoint
// leaves a file.
func approvalWorld(t *testing.T, name string, policy approval.Policy, tweak func(*agent.Config)) (w world, approved, unapproved containerdtest.Image, marks, alerts string) {
	approved = containerdtest.BusyboxImage(t)
	unapproved = containerdtest.BusyboxImageWith(t, unapprovedImageName, ctrd.File{Path: "etc/miner", Mode: 0o644, Data: []byte("xmr\n")})
	w = newWorld(t, name, approved, unapproved)
	alerts = filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := w.agentConfig(t)
	cfg.AlertsFile, cfg.Approval = alerts, policy
	if tweak != nil {
		tweak(&cfg)
	}
	startAgent(t, cfg)
	return w, approved, unapproved, t.TempDir(), alerts
}

// markerRun runs img with CRI labels naming pod/ns, its entrypoint writing
// /mark/<mark> first thing, then sleeping.
func markerRun(t *testing.T, w world, img containerdtest.Image, marks, mark string) *containerdtest.Container {
	return w.d.Run(t, containerdtest.RunOptions{Image: img, Namespace: w.ns, Binds: map[string]string{marks: "/mark"},
		Labels: containerdtest.CRILabels("pod-"+mark, "shop", "uid-"+mark, "app"),
		Args:   []string{"/bin/sh", "-c", "echo ran >/mark/" + mark + "; exec sleep 3600"}})
}

func ran(marks, mark string) bool {
	_, err := os.Stat(filepath.Join(marks, mark))
	return err == nil
}

// TestUnapprovedImageAlerted: in alert mode an approved image runs
// unremarked; an unapproved one runs and is alerted with its image, the
// digest its tag resolved to, its pod and namespace, to the alerts file and
// to the collector.
func TestUnapprovedImageAlerted(t *testing.T) {
	consumer, collectorCfg := collectorFor(t, "e2e-node", time.Second)
	w, approved, unapproved, marks, alerts := approvalWorld(t, "approve-alert", approval.Policy{Images: approvedRegistry, Action: approval.ActionAlert},
		func(cfg *agent.Config) { cfg.Collector = collectorCfg })
	ok := markerRun(t, w, approved, marks, "ok")
	bad := markerRun(t, w, unapproved, marks, "bad")
	waitFor(t, "both entrypoints to run", func() bool { return ran(marks, "ok") && ran(marks, "bad") })
	waitFor(t, "the unapproved container's alert", func() bool { _, seen := unapprovedAlerts(t, alerts)[bad.ID]; return seen })
	got := unapprovedAlerts(t, alerts)
	a := got[bad.ID]
	if a.Action != "ACTION_ALERTED" || a.Container.Image != unapprovedImageName || a.Container.ImageDigest != unapproved.ManifestDigest.String() ||
		a.Container.Pod != "pod-bad" || a.Container.Namespace != "shop" || a.Labels["reason"] != "repository" {
		t.Errorf("alert %+v", a)
	}
	if _, alerted := got[ok.ID]; alerted || len(got) != 1 {
		t.Errorf("alerts for %v, want only the unapproved container %s", slices.Collect(maps.Keys(got)), bad.ID)
	}
	if st := bad.Status(t); st.Status != client.Running {
		t.Errorf("the unapproved container is %s in alert mode, want running", st.Status)
	}
	var stored []*vigilv1.Alert
	waitFor(t, "the alert stored by the collector", func() bool {
		r, err := consumer.ListAlerts(context.Background(), &vigilv1.ListAlertsRequest{
			Filter: &vigilv1.AlertFilter{Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_UNAPPROVED_IMAGE}}})
		stored = r.GetAlerts()
		return err == nil && len(stored) > 0
	})
	if len(stored) != 1 || stored[0].GetContainer().GetId() != bad.ID || stored[0].GetContainer().GetPod() != "pod-bad" ||
		stored[0].GetContainer().GetImageDigest() != unapproved.ManifestDigest.String() {
		t.Errorf("collector holds %v, want the unapproved container's alert", stored)
	}
}

// unapprovedBackToBack is how many unapproved containers the enforce test starts.
const unapprovedBackToBack = 10

// TestUnapprovedImageStoppedBeforeItsEntrypoint: in enforce mode an
// approved image runs; containers of an unapproved one, started back to
// back, are killed before their entrypoint runs (it would leave a file on a
// host directory first thing: none does) and alerted as killed.
func TestUnapprovedImageStoppedBeforeItsEntrypoint(t *testing.T) {
	w, approved, unapproved, marks, alerts := approvalWorld(t, "approve-enforce", approval.Policy{Images: approvedRegistry, Action: approval.ActionEnforce}, nil)
	ok := markerRun(t, w, approved, marks, "ok")
	waitFor(t, "the approved entrypoint to run", func() bool { return ran(marks, "ok") })

	// Where each was stopped: while runc set it up (its task never
	// created), before its start, or after it (its task killed).
	started := map[string]time.Time{}
	stoppedAt := map[string]int{}
	var bad []*containerdtest.Container
	for i := range unapprovedBackToBack {
		mark := fmt.Sprintf("bad%d", i)
		at := time.Now()
		c, err := w.d.TryRun(t, containerdtest.RunOptions{Image: unapproved, Namespace: w.ns, Binds: map[string]string{marks: "/mark"},
			Labels: containerdtest.CRILabels("pod-"+mark, "shop", "uid-"+mark, "app"),
			Args:   []string{"/bin/sh", "-c", "echo ran >/mark/" + mark + "; exec sleep 3600"}})
		started[c.ID] = at
		bad = append(bad, c)
		switch {
		case c.Task == nil:
			stoppedAt["task create"]++
			t.Logf("unapproved container %d: stopped while runc created it: %v", i, err)
		case err != nil:
			stoppedAt["task start"]++
			t.Logf("unapproved container %d: stopped before its start: %v", i, err)
		default:
			if code := c.Wait(t, 10*time.Second); code != 137 {
				t.Errorf("unapproved container %d exited %d, want 137 (killed); output %q", i, code, c.Output.String())
			}
			stoppedAt["after start"]++
		}
	}
	waitFor(t, "every unapproved container's alert", func() bool { return len(unapprovedAlerts(t, alerts)) == unapprovedBackToBack })
	got := unapprovedAlerts(t, alerts)
	var delays []time.Duration
	for i, c := range bad {
		if ran(marks, fmt.Sprintf("bad%d", i)) {
			t.Errorf("unapproved container %d: its entrypoint ran", i)
		}
		a := got[c.ID]
		if a.Action != "ACTION_KILLED" || a.Labels["workload_ran"] != "false" || a.Container.ImageDigest != unapproved.ManifestDigest.String() {
			t.Errorf("unapproved container %d: alert %+v", i, a)
		}
		delays = append(delays, a.Time.Sub(started[c.ID]))
	}
	if _, alerted := got[ok.ID]; alerted {
		t.Error("the approved container was alerted")
	}
	if st := ok.Status(t); st.Status != client.Running {
		t.Errorf("the approved container is %s, want running", st.Status)
	}
	slices.Sort(delays)
	t.Logf("%d unapproved containers killed before their entrypoint, stopped at %v; create request to alert: min %v, median %v, max %v",
		len(delays), stoppedAt, delays[0], delays[len(delays)/2], delays[len(delays)-1])
}

// TestUnlearnedDigestStopped: with known digests required, the digest with
// a profile runs and one without is killed before its entrypoint runs,
// whatever its registry.
func TestUnlearnedDigestStopped(t *testing.T) {
	approved := containerdtest.BusyboxImage(t)
	profiles := t.TempDir()
	writeProfile(t, profiles, "busybox.yaml", []byte(fmt.Sprintf(`apiVersion: vigil.dev/v1
kind: ImageProfile
metadata:
  image: vigil.test/busybox
  digest: %s
  version: 1
  mode: monitor
spec:
  executables:
    - path: /bin/busybox
`, approved.ManifestDigest)))
	w, _, unlearned, marks, alerts := approvalWorld(t, "approve-digest",
		approval.Policy{RequireKnownDigest: true, Action: approval.ActionEnforce}, func(cfg *agent.Config) { cfg.ProfilesDir = profiles })
	ok := markerRun(t, w, approved, marks, "ok")
	waitFor(t, "the learned image's entrypoint to run", func() bool { return ran(marks, "ok") })
	bad, err := w.d.TryRun(t, containerdtest.RunOptions{Image: unlearned, Namespace: w.ns, Binds: map[string]string{marks: "/mark"},
		Args: []string{"/bin/sh", "-c", "echo ran >/mark/bad; exec sleep 3600"}})
	if err == nil {
		if code := bad.Wait(t, 10*time.Second); code != 137 {
			t.Errorf("the unlearned container exited %d, want 137 (killed)", code)
		}
	}
	waitFor(t, "the unlearned container's alert", func() bool { _, seen := unapprovedAlerts(t, alerts)[bad.ID]; return seen })
	a := unapprovedAlerts(t, alerts)[bad.ID]
	if ran(marks, "bad") || a.Labels["reason"] != "unknown_digest" || a.Action != "ACTION_KILLED" || a.Container.ImageDigest != unlearned.ManifestDigest.String() {
		t.Errorf("entrypoint ran: %v; alert %+v", ran(marks, "bad"), a)
	}
	if st := ok.Status(t); st.Status != client.Running {
		t.Errorf("the learned image's container is %s, want running", st.Status)
	}
}
