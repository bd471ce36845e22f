package apps

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/containerd/containerd/v2/client"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// Phase is mix B in one mode, in a container started in that mode.
type Phase struct {
	Mode profile.Mode
	// Started says whether the application served at all.
	Started bool
	// Requests and Failures are mix B's requests sent and those that
	// failed; Unsent are those not sent because an earlier request of
	// their round failed (counted against the monitor phase, where every
	// request was answered).
	Requests, Unsent int
	Failures         []Outcome
	// Exit says how the container ended before the phase stopped it; ""
	// when it ran until then.
	Exit string
	// Findings are the distinct objects alerted on during the phase.
	Findings []Finding
	// Counters are what the agent's fanotify listener decided and what
	// the sensor lost during the phase (only counters that moved).
	Counters map[string]float64
	// Unjudged, in enforce mode, says why the phase's opens were not
	// enforced at all: the open tier is fanotify and its listener decided
	// nothing while the container ran. Its requests then prove nothing.
	Unjudged string
}

// phaseCounters are the agent's metrics a phase reports.
var phaseCounters = []string{fanotifyDecisions, "vigil_sensor_events_lost_total"}

const fanotifyDecisions = "vigil_fanotify_decisions_total"

// Failed is how many of mix B's requests failed or were never sent.
func (p Phase) Failed() int { return len(p.Failures) + p.Unsent }

// Of is how many requests mix B makes.
func (p Phase) Of() int { return p.Requests + p.Unsent }

// phase runs mix B for the set rounds in a fresh container in mode and
// gathers what failed and what was alerted.
func (m *measurement) phase(mode profile.Mode) Phase {
	p := Phase{Mode: mode}
	before, err := counters(m.metrics, phaseCounters...)
	if err != nil {
		m.t.Fatal(err)
	}
	c := m.start(mode)
	started, err := m.ready(c)
	p.Started = started
	if !started {
		m.t.Logf("%s in %s mode: %v\noutput: %s", m.app.Name, mode, err, c.Output.String())
	}
	dial := dialer{pid: c.Task.Pid()}
	for round := range m.opts.Rounds {
		for _, o := range m.app.MixB(context.Background(), dial, round) {
			p.Requests++
			if o.Err != nil {
				p.Failures = append(p.Failures, o)
			}
		}
		time.Sleep(m.opts.Pause)
	}
	p.Exit = m.exited(c)
	c.Stop(m.t, stopGrace)
	all := m.quietAlerts()
	after, err := counters(m.metrics, phaseCounters...)
	if err != nil {
		m.t.Fatal(err)
	}
	p.Counters = delta(before, after)
	if mode == profile.ModeEnforce && m.openTier == enforce.TierFanotify && !hasPrefix(p.Counters, fanotifyDecisions) {
		p.Unjudged = "the open tier is fanotify, and its listener decided no open while the container ran"
	}
	// A phase's container is its own: the previous phase's summaries of
	// repeats may still arrive, and belong to the previous container.
	mine := slices.DeleteFunc(all, func(a *vigilv1.Alert) bool { return a.Container.GetId() != c.ID })
	p.Findings = findings(mine, m.image.Files, m.app.Chosen)
	return p
}

// quietAlerts returns the alerts once the agent has written none for
// settle (bounded by quietTimeout): the events of a phase's last requests
// may still be on their way through the pipeline.
func (m *measurement) quietAlerts() []*vigilv1.Alert {
	var last []*vigilv1.Alert
	quietSince, deadline := time.Now(), time.Now().Add(quietTimeout)
	for time.Since(quietSince) < settle && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		all, err := readAlerts(m.alerts)
		if err != nil {
			m.t.Fatal(err)
		}
		if len(all) != len(last) {
			last, quietSince = all, time.Now()
		}
	}
	return last
}

// exited describes how c's task ended, or "" while it runs.
func (m *measurement) exited(c *containerdtest.Container) string {
	if st := c.Status(m.t); st.Status == client.Stopped {
		return fmt.Sprintf("exited with status %d", st.ExitStatus)
	}
	return ""
}
