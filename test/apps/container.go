package apps

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// start creates a container of the image, waits until the agent knows it
// (and, in enforce mode, enforces its profile), and only then starts it:
// what it does from its first instruction is judged in mode.
func (m *measurement) start(mode profile.Mode) *containerdtest.Container {
	c := m.d.Create(m.t, containerdtest.RunOptions{Image: m.image.Image, Namespace: m.ns})
	deadline := time.Now().Add(knownTimeout)
	for {
		ci, known := m.a.Container(c.ID)
		if known && (mode != profile.ModeEnforce || m.a.Enforcing(ci)) {
			break
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: the agent did not know container %s (known %v) in %s for mode %s", m.app.Name, c.ID, known, knownTimeout, mode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Start(m.t)
	return c
}

// ready waits until the application serves; false if it did not within
// readyTimeout, or its container exited first.
func (m *measurement) ready(c *containerdtest.Container) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	dial := dialer{pid: c.Task.Pid()}
	var last error
	for ctx.Err() == nil {
		if exit := m.exited(c); exit != "" {
			return false, fmt.Errorf("%s before serving (last probe: %v)", exit, last)
		}
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		last = m.app.Ready(rctx, dial)
		rcancel()
		if last == nil {
			return true, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false, fmt.Errorf("not serving after %s: %w", readyTimeout, last)
}

func (m *measurement) mustReady(c *containerdtest.Container) {
	if ok, err := m.ready(c); !ok {
		m.t.Fatalf("%s did not start while learned: %v\noutput: %s", m.app.Name, err, c.Output.String())
	}
}

// learn runs mix rounds until d has passed; a failed request fails the
// test (the application is being learned, nothing is refused).
func (m *measurement) learn(c *containerdtest.Container, mix Mix, d time.Duration) {
	dial := dialer{pid: c.Task.Pid()}
	end := time.Now().Add(d)
	for round := 0; time.Now().Before(end); round++ {
		for _, o := range mix(context.Background(), dial, round) {
			if o.Err != nil {
				m.t.Fatalf("%s while learned, round %d: %s: %v\noutput: %s", m.app.Name, round, o.Request, o.Err, c.Output.String())
			}
		}
		time.Sleep(m.opts.Pause)
	}
}
