package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// workload is the test image's normal behaviour: run, read, connect.
const workload = "cat /opt/tools/data >/dev/null; ls / >/dev/null; nc -w 1 127.0.0.1 8080 </dev/null; true"

// TestLearnThenMonitor learns a busybox container's workload, promotes the
// draft to a monitor-mode profile through the profiles directory, replays
// the workload (no violation) and then does four new things: exactly four
// alerts, each with the container, digest and process.
func TestLearnThenMonitor(t *testing.T) {
	testutil.RequireRoot(t)
	ns := fmt.Sprintf("vigil-e2e-learn-%d", os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns)
	d := containerdtest.Start(t)
	busybox := containerdtest.BusyboxImage(t)
	d.Import(t, ns, busybox)
	digest := busybox.ManifestDigest.String()

	tools := t.TempDir() // things the workload never touches, bind-mounted in
	copyFile(t, "/bin/busybox", filepath.Join(tools, "tool"), 0o755)
	for name, content := range map[string]string{"data": "normal\n", "secret": "s3cret\n"} {
		if err := os.WriteFile(filepath.Join(tools, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	profiles, state := t.TempDir(), t.TempDir()
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.ProfilesDir, cfg.AlertsFile = "e2e-node", state, profiles, alerts
	cfg.ContainerdSocket = d.Address
	cfg.PinDir = "" // enforcement ends with the test
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{scope}
	a, reg := startAgent(t, cfg)

	c := d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: ns, Args: []string{"/bin/sleep", "3600"},
		Binds: map[string]string{tools: "/opt/tools"}})
	execIn(t, c, workload)
	execIn(t, c, workload)

	waitDraft(t, a, digest, func(p *profile.Profile) bool {
		return hasFile(p, "/opt/tools/data") && len(p.Spec.Network) > 0 && len(p.Spec.Executables) > 0
	})
	// Every event of the second run learned, then the profile frozen.
	waitProcessed(t, reg)
	learned := waitDraft(t, a, digest, func(*profile.Profile) bool { return true })
	st := learned.Stability(time.Now())
	t.Logf("learned %d entries from %d observations of %d container(s); stable %v after the first observation",
		st.Entries, st.Observations, st.Containers, st.LastNewEntry.Sub(st.Started))
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeMonitor, 1
	doc, err := profile.Encode(learned)
	if err != nil {
		t.Fatal(err)
	}
	writeProfile(t, profiles, "busybox.yaml", doc)
	waitFor(t, "the monitor profile to be in force", func() bool {
		p, ok := a.ProfileInForce(digest)
		return ok && p.Metadata.Mode == profile.ModeMonitor
	})

	execIn(t, c, workload)
	waitProcessed(t, reg)
	if got := readAlerts(t, alerts); len(got) != 0 {
		t.Fatalf("the learned workload replayed gave %d alerts, want none: %v", len(got), summaries(got))
	}

	execIn(t, c, "/opt/tools/tool true; cat /opt/tools/secret >/dev/null; nc -w 1 127.0.0.1 9999 </dev/null; chroot / true; true")
	waitProcessed(t, reg) // every alert of these events is written: nothing more can come
	got := readAlerts(t, alerts)
	want := []string{
		"capability CAP_SYS_CHROOT",
		"connect 127.0.0.1:9999/tcp",
		"exec /bin/busybox", // chroot, a NOEXEC applet (judged at its rename) the workload never ran
		"exec /bin/busybox", // true, which chroot runs: an applet the workload never ran
		"exec /opt/tools/tool",
		"open /opt/tools/secret",
	}
	if s := summaries(got); strings.Join(s, "|") != strings.Join(want, "|") {
		t.Fatalf("alerts = %q, want exactly %q", s, want)
	}
	for _, al := range got {
		if al.Container.ID != c.ID || al.Container.ImageDigest != digest || al.Node != "e2e-node" ||
			al.Action != "ACTION_ALERTED" || al.Rule == "" || al.ProfileVersion != "1" || al.Process.Path == "" || al.Process.Pid == 0 {
			t.Errorf("alert lacks context: %+v", al)
		}
	}

	t.Run("a bad profile file keeps the previous one", func(t *testing.T) {
		writeProfile(t, profiles, "busybox.yaml", []byte("apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata: {digest: "+digest+", mode: sometimes}\n"))
		waitFor(t, "the invalid file rejected", func() bool {
			return metric(t, reg, "vigil_profile_files_rejected_total", "reason", "invalid") >= 1
		})
		p, ok := a.ProfileInForce(digest)
		if !ok || p.Metadata.Mode != profile.ModeMonitor || p.Spec.Entries() != learned.Spec.Entries() {
			t.Fatalf("after an invalid file the profile in force is %v, %v; want the learned one", p, ok)
		}
	})
}

func startAgent(t *testing.T, cfg agent.Config) (*agent.Agent, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := agent.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), reg)
	if err != nil {
		t.Fatalf("start agent: %v", err)
	}
	testutil.RunUntilCleanup(t, "agent", a.Run)
	return a, reg
}

// waitProcessed waits until the agent's pipeline has finished with every
// event the kernel wrote so far (or counted it lost): what the test's
// processes did is then learned, judged and alerted.
func waitProcessed(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	waitFor(t, "the pipeline to catch up with the kernel", func() bool {
		written := metric(t, reg, "vigil_sensor_kernel_events_total")
		done := metric(t, reg, "vigil_pipeline_events_processed_total") +
			metric(t, reg, "vigil_sensor_events_lost_total", "where", "queue") + metric(t, reg, "vigil_sensor_decode_errors_total")
		return written > 0 && done == written
	})
}

// metric sums the series of a counter or gauge in reg; with a label name and value,
// only the series with that label.
func metric(t *testing.T, reg *prometheus.Registry, name string, label ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(label) == 2 && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == label[0] && l.GetValue() == label[1]
			}) {
				continue
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func execIn(t *testing.T, c *containerdtest.Container, script string) {
	t.Helper()
	if code, out := c.Exec(t, "/bin/sh", "-c", script); code != 0 {
		t.Fatalf("%q exited %d: %s", script, code, out)
	}
}

func waitDraft(t *testing.T, a *agent.Agent, digest string, ok func(*profile.Profile) bool) *profile.Profile {
	t.Helper()
	var p *profile.Profile
	t.Cleanup(func() {
		if t.Failed() && p != nil {
			doc, _ := profile.Encode(p)
			t.Logf("last draft seen:\n%s", doc)
		}
	})
	waitFor(t, "the draft of "+digest, func() bool {
		for _, d := range a.Drafts() {
			if d.Digest() == digest {
				p = d.Profile()
				return ok(p)
			}
		}
		return false
	})
	return p
}

func hasFile(p *profile.Profile, path string) bool {
	for _, f := range p.Spec.Files {
		if f.Path == path {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeProfile replaces a file the way a ConfigMap update does: atomically.
func writeProfile(t *testing.T, dir, name string, doc []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// alertLine is the part of an alerts-file line the test checks.
type alertLine struct {
	Node      string `json:"node"`
	Kind      string `json:"kind"`
	Action    string `json:"action"`
	Rule      string `json:"rule"`
	Container struct {
		ID          string `json:"id"`
		ImageDigest string `json:"image_digest"`
	} `json:"container"`
	Process struct {
		Pid  int      `json:"pid"`
		Path string   `json:"path"`
		Argv []string `json:"argv"`
	} `json:"process"`
	Object struct {
		Path       string `json:"path"`
		Address    string `json:"address"`
		Port       int    `json:"port"`
		Protocol   string `json:"protocol"`
		Capability string `json:"capability"`
		Applet     string `json:"applet"`
		Written    bool   `json:"written"`
	} `json:"object"`
	ProfileVersion string            `json:"profile_version"`
	Labels         map[string]string `json:"labels"`
}

func readAlerts(t *testing.T, path string) []alertLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []alertLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a alertLine
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alerts file line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, a)
	}
	return out
}

// summaries names each alert "kind object", sorted.
func summaries(alerts []alertLine) []string {
	var out []string
	for _, a := range alerts {
		o := a.Object
		var s string
		switch a.Kind {
		case "KIND_EXEC":
			s = "exec " + o.Path
		case "KIND_OPEN":
			s = "open " + o.Path
		case "KIND_CONNECT":
			s = fmt.Sprintf("connect %s:%d/%s", o.Address, o.Port, o.Protocol)
		case "KIND_CAPABILITY":
			s = "capability " + o.Capability
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
