package apps

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/appimage"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/testutil"
)

// Options bound one measurement.
type Options struct {
	// Learn is how long mix A runs in each of the two containers the
	// profile is learned from (the second is the first one restarted).
	Learn time.Duration
	// Rounds of mix B run in monitor mode, and again in enforce mode.
	Rounds int
	// Pause separates rounds, so a mix is traffic, not a load test.
	Pause time.Duration
	// CacheDir keeps the images' root filesystems (appimage.Build).
	CacheDir string
	// OutDir, when set, receives each application's learned profile and
	// alerts.
	OutDir string
}

// Timing of the phases. An application starts in seconds (PostgreSQL's
// initdb included); the agent knows a container within milliseconds.
const (
	readyTimeout = time.Minute
	knownTimeout = 10 * time.Second
	stopGrace    = 20 * time.Second
	settle       = 2 * time.Second // the last events through the pipeline
	quietTimeout = 15 * time.Second
	profileWait  = 10 * time.Second
)

// profileFile is the learned profile's file in the agent's profiles
// directory.
const profileFile = "profile.yaml"

// Result is the measurement of one application.
type Result struct {
	App    string
	Digest string
	// LearnedAtRestart and Learned are the draft's entries when the first
	// container stopped and when the profile was frozen.
	LearnedAtRestart, Learned int
	// Incomplete is why the learned profile says it may lack behaviour
	// (losses, unattributed events, full lists); "" when it does not.
	Incomplete       string
	Monitor, Enforce Phase
	// Unjudged counts the containers started under enforce before
	// Enforce whose opens went unjudged (Phase.Unjudged): each was run
	// again, up to enforceAttempts in all, so that Enforce measures the
	// profile rather than a miss of the enforcement.
	Unjudged int
}

// enforceAttempts bounds the containers started for the enforce phase.
const enforceAttempts = 3

// Measure learns app from mix A, with one restart, freezes the draft,
// promotes it to monitor through the profiles directory and runs mix B in a
// fresh container, then promotes it to enforce and runs mix B in another
// fresh container, started under enforcement. The agent is the real one,
// in process, scoped to the namespace of a containerd of its own.
// Whatever keeps the measurement from being made (the image, the
// application failing while learned or monitored, the agent) fails t; what
// enforcement breaks is the result.
func Measure(t testing.TB, app App, opts Options) Result {
	t.Helper()
	ctx := context.Background()
	built, err := appimage.Build(ctx, opts.CacheDir, app.Recipe, t.TempDir())
	if err != nil {
		t.Fatalf("image of %s: %v", app.Name, err)
	}
	if built.RootfsBuild > 0 {
		t.Logf("%s: built the root filesystem of %v in %s (cached in %s)", app.Name, app.Recipe.Packages,
			built.RootfsBuild.Round(time.Second), opts.CacheDir)
	}
	ns := fmt.Sprintf("vigil-apps-%s-%d", app.Name, os.Getpid())
	scope := testutil.NamespaceCgroup(t, ns) // before the daemon: removed after its containers
	d := containerdtest.Start(t)
	d.Import(t, ns, built.Image)

	m := &measurement{t: t, d: d, app: app, opts: opts, image: built, ns: ns,
		profiles: t.TempDir(), alerts: filepath.Join(t.TempDir(), "alerts.jsonl")}
	m.startAgent(scope)
	res := Result{App: app.Name, Digest: built.ManifestDigest.String()}

	for run := range 2 {
		c := m.start(profile.ModeLearn)
		m.mustReady(c)
		m.learn(c, app.MixA, opts.Learn)
		c.Stop(t, stopGrace)
		time.Sleep(settle)
		if run == 0 {
			res.LearnedAtRestart = m.draft().Spec.Entries()
		}
	}
	learned := m.draft()
	res.Learned = learned.Spec.Entries()
	for _, r := range learned.Metadata.Learning.Incomplete {
		res.Incomplete += fmt.Sprintf("%s (%d); ", r.Reason, r.Count)
	}
	m.promote(learned, profile.ModeMonitor, 1)

	res.Monitor = m.phase(profile.ModeMonitor)
	if !res.Monitor.Started || len(res.Monitor.Failures) > 0 || res.Monitor.Exit != "" {
		t.Fatalf("%s under monitor (nothing is stopped): started %v, exit %q, failures %v",
			app.Name, res.Monitor.Started, res.Monitor.Exit, res.Monitor.Failures)
	}
	m.promote(learned, profile.ModeEnforce, 2)
	for attempt := 1; ; attempt++ {
		res.Enforce = m.phase(profile.ModeEnforce)
		res.Enforce.Unsent = max(0, res.Monitor.Requests-res.Enforce.Requests)
		if res.Enforce.Unjudged == "" || attempt == enforceAttempts {
			break
		}
		res.Unjudged++
		t.Logf("%s: enforce attempt %d not enforced (%s); again in a fresh container\n%s", app.Name, attempt,
			res.Enforce.Unjudged, res.Report())
	}
	m.keep(learned)
	return res
}

// measurement is the state of one Measure.
type measurement struct {
	t        testing.TB
	d        *containerdtest.Daemon
	app      App
	opts     Options
	image    appimage.Built
	ns       string
	a        *agent.Agent
	metrics  *prometheus.Registry // the agent's
	openTier enforce.Tier
	profiles string // the agent's profiles directory
	alerts   string // the agent's alerts file
}

func (m *measurement) startAgent(scope uint64) {
	cfg := agent.DefaultConfig()
	cfg.Node, cfg.StateDir, cfg.ProfilesDir, cfg.AlertsFile = "apps-node", m.t.TempDir(), m.profiles, m.alerts
	cfg.ContainerdSocket = m.d.Address
	cfg.PinDir = "" // enforcement ends with the test
	cfg.Sensor.CgroupFilter, cfg.Sensor.Cgroups = sensor.FilterInclude, []uint64{scope}
	m.metrics = prometheus.NewRegistry()
	a, err := agent.New(cfg, zaptest.NewLogger(m.t, zaptest.Level(zap.ErrorLevel)), m.metrics)
	if err != nil {
		m.t.Fatalf("start agent: %v", err)
	}
	testutil.RunUntilCleanup(m.t, "agent", a.Run)
	m.a = a
	for _, ht := range a.Tiers() {
		if ht.Hook == "open" {
			m.openTier = ht.Tier
		}
	}
}

// draft returns the current draft of the application's image.
func (m *measurement) draft() *profile.Profile {
	digest := m.image.ManifestDigest.String()
	for _, d := range m.a.Drafts() {
		if d.Digest() == digest {
			return d.Profile()
		}
	}
	m.t.Fatalf("%s: no draft for %s", m.app.Name, digest)
	return nil
}

// promote puts learned in force in mode through the profiles directory,
// as an operator's GitOps change would, and waits for the agent to apply
// it.
func (m *measurement) promote(learned *profile.Profile, mode profile.Mode, version int64) {
	p := learned.Clone()
	p.Metadata.Mode, p.Metadata.Version = mode, version
	doc, err := profile.Encode(p)
	if err != nil {
		m.t.Fatalf("encode the profile: %v", err)
	}
	tmp := filepath.Join(m.profiles, "."+profileFile)
	if err := os.WriteFile(tmp, doc, 0o644); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.profiles, profileFile)); err != nil {
		m.t.Fatal(err)
	}
	deadline := time.Now().Add(profileWait)
	for {
		if got, ok := m.a.ProfileInForce(p.Metadata.Digest); ok && got.Metadata.Mode == mode && got.Metadata.Version == version {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: the %s profile was not in force after %s", m.app.Name, mode, profileWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keep copies the learned profile and the alerts to OutDir, if set.
func (m *measurement) keep(learned *profile.Profile) {
	if m.opts.OutDir == "" {
		return
	}
	doc, err := profile.Encode(learned)
	if err != nil {
		m.t.Fatalf("encode the profile: %v", err)
	}
	alerts, err := os.ReadFile(m.alerts)
	if err != nil && !os.IsNotExist(err) {
		m.t.Fatal(err)
	}
	if err := os.MkdirAll(m.opts.OutDir, 0o755); err != nil {
		m.t.Fatal(err)
	}
	for name, data := range map[string][]byte{m.app.Name + "-profile.yaml": doc, m.app.Name + "-alerts.jsonl": alerts} {
		if err := os.WriteFile(filepath.Join(m.opts.OutDir, name), data, 0o644); err != nil {
			m.t.Fatal(err)
		}
	}
}
