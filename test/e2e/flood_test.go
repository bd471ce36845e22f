package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// floodViolations is how many forbidden execs each judged container of
// TestViolationsSurviveANodeFlood tries.
const floodViolations = 100

// TestViolationsSurviveANodeFlood floods the node's sensor — two learning
// containers creating distinct files as fast as they can, with the flood's
// ring buffer and queue far too small (a host process's opens would not
// do: the agent keeps them in the kernel) — while an
// enforced and a monitored container each run a binary outside their
// profile floodViolations times: the agent must alert every one (killed,
// resp. alerted) in its alerts file, and count the flood's losses, none of
// them the judged containers'.
func TestViolationsSurviveANodeFlood(t *testing.T) {
	learner := containerdtest.BusyboxImage(t)
	enforced := containerdtest.BusyboxImageWith(t, "vigil.test/enforced:1", ctrd.File{Path: "etc/role", Mode: 0o644, Data: []byte("enforced\n")})
	monitored := containerdtest.BusyboxImageWith(t, "vigil.test/monitored:1", ctrd.File{Path: "etc/role", Mode: 0o644, Data: []byte("monitored\n")})
	w := newWorld(t, "flood", learner, enforced, monitored)
	tools := t.TempDir()
	copyFile(t, "/bin/busybox", filepath.Join(tools, "tool"), 0o755)

	profiles := t.TempDir()
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := w.agentConfig(t)
	cfg.ProfilesDir, cfg.AlertsFile = profiles, alerts
	cfg.DedupWindow = time.Nanosecond                            // one alert per violation: each is counted
	cfg.Sensor.RingBufferSize, cfg.Sensor.QueueSize = 64<<10, 64 // the flood's path: far too small for it
	a, reg := startAgent(t, cfg)

	binds := map[string]string{tools: "/opt/tools"}
	run := func(img containerdtest.Image) *containerdtest.Container {
		return w.d.Run(t, containerdtest.RunOptions{Image: img, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"}, Binds: binds})
	}
	e, m := run(enforced), run(monitored)
	learners := []*containerdtest.Container{run(learner), run(learner)}
	// Written, not learned: the flood's small ring loses learning data.
	// They allow what the violations' loop runs besides the forbidden
	// binary: sh, seq, and writing /dev/null.
	for _, j := range []struct {
		img  containerdtest.Image
		mode profile.Mode
	}{{enforced, profile.ModeEnforce}, {monitored, profile.ModeMonitor}} {
		digest := j.img.ManifestDigest.String()
		p := &profile.Profile{Metadata: profile.Metadata{Image: j.img.Name, Digest: digest, Version: 1, Mode: j.mode}}
		for _, applet := range []string{"sh", "seq", "sleep"} {
			p.Spec.Executables = append(p.Spec.Executables, profile.ExecEntry{Path: "/bin/busybox", As: applet})
		}
		p.Spec.Files = []profile.FileEntry{{Path: "/dev/null", Access: profile.AccessReadWrite}}
		doc, err := profile.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		writeProfile(t, profiles, string(j.mode)+".yaml", doc)
		waitFor(t, "the "+string(j.mode)+" profile in force", func() bool {
			p, ok := a.ProfileInForce(digest)
			return ok && p.Metadata.Mode == j.mode
		})
	}
	waitFor(t, "enforcement", func() bool {
		ci, ok := a.Container(e.ID)
		return ok && a.Enforcing(ci)
	})

	// The flood: distinct new files, each news to the learner.
	stop := filepath.Join(tools, "stop")
	floods := make(chan struct{}, len(learners))
	for _, l := range learners {
		go func() {
			defer func() { floods <- struct{}{} }()
			l.Exec(t, "/bin/sh", "-c", `for j in 1 2; do (i=0; while [ ! -e /opt/tools/stop ]; do : >/tmp/f$j.$i; i=$((i+1)); done) & done; wait`)
		}()
	}
	t.Cleanup(func() { os.WriteFile(stop, nil, 0o644) })
	waitFor(t, "the flood to lose events", func() bool { return metric(t, reg, "vigil_sensor_events_lost_total") > 0 })

	// The flood's opens, written or lost, before and after the violations:
	// it must go on while they run. Whether it also loses in that window
	// is up to the scheduler (its losses come in bursts; CI saw a run
	// with none in the window), so a loss there is logged, not required.
	floodOpens := func() float64 {
		return metric(t, reg, "vigil_sensor_kernel_events_total", "type", "open") +
			metric(t, reg, "vigil_sensor_events_lost_total", "type", "open")
	}
	lostBefore, opensBefore := metric(t, reg, "vigil_sensor_events_lost_total"), floodOpens()
	loop := fmt.Sprintf("for i in $(seq 1 %d); do /opt/tools/tool $i 2>/dev/null; done; true", floodViolations)
	done := make(chan struct{}, 2)
	for _, c := range []*containerdtest.Container{e, m} {
		go func() {
			defer func() { done <- struct{}{} }()
			c.Exec(t, "/bin/sh", "-c", loop)
		}()
	}
	<-done
	<-done
	lostDuring := metric(t, reg, "vigil_sensor_events_lost_total") - lostBefore
	opensDuring := floodOpens() - opensBefore
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range learners {
		<-floods
	}
	waitProcessed(t, reg)

	byContainer := map[string]map[string][]string{e.ID: {}, m.ID: {}}
	for _, al := range readAlerts(t, alerts) {
		if got, ok := byContainer[al.Container.ID]; ok && al.Kind == "KIND_EXEC" && al.Object.Path == "/opt/tools/tool" && len(al.Process.Argv) == 2 {
			got[al.Process.Argv[1]] = append(got[al.Process.Argv[1]], al.Action)
		}
	}
	for id, want := range map[string]string{e.ID: "ACTION_KILLED", m.ID: "ACTION_ALERTED"} {
		once := 0
		for i := 1; i <= floodViolations; i++ {
			switch got := byContainer[id][strconv.Itoa(i)]; {
			case len(got) == 1 && got[0] == want:
				once++
			default:
				t.Errorf("violation %d of container %s alerted as %v, want once as %s", i, id, got, want)
			}
		}
		t.Logf("container %s: %d of %d violations alerted once as %s", id, once, floodViolations, want)
	}
	if opensDuring == 0 {
		t.Errorf("the flood stopped before the violations ran: they did not compete with it")
	}
	judgedLost := metric(t, reg, "vigil_sensor_judged_events_lost_total")
	t.Logf("flood: %v events written by the kernel, %v lost (%v opens and %v losses while the violations ran; ring buffer %v, queue %v); judged containers' lost: %v",
		metric(t, reg, "vigil_sensor_kernel_events_total"), metric(t, reg, "vigil_sensor_events_lost_total"), opensDuring, lostDuring,
		metric(t, reg, "vigil_sensor_events_lost_total", "where", "ring_buffer"), metric(t, reg, "vigil_sensor_events_lost_total", "where", "queue"),
		judgedLost)
	if judgedLost != 0 {
		t.Errorf("%v events of judged containers lost", judgedLost)
	}
}
