package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// Bounds of each wait; each normally takes a few seconds.
const (
	learnTimeout = time.Minute
	modeTimeout  = 30 * time.Second
	alertTimeout = 30 * time.Second
)

// learned is what the shop's normal traffic does, which the profile must
// allow before it is promoted.
var learned = []profile.Observation{
	{Kind: profile.KindExec, Path: "/bin/busybox", Applet: "wget"},
	{Kind: profile.KindOpen, Path: "/www/index.html", Access: profile.AccessRead},
	{Kind: profile.KindConnect, Network: profile.Destination{Addr: netip.MustParseAddr("127.0.0.1"), Port: 8080, Protocol: profile.TCP}},
}

// story walks the demo's image through learn, monitor and enforce.
func story(ctx context.Context, c *console, rt *containerRuntime, digest string) error {
	col, closeCol, err := consumer(c.cfg.certs, c.cfg.collectorListen)
	if err != nil {
		return err
	}
	defer closeCol()
	s := &stage{console: c, rt: rt, col: col, digest: digest}
	if err := c.pause(ctx, "press Enter to start learning; Ctrl-C stops everything"); err != nil {
		return err
	}
	version, err := s.learn(ctx)
	if err != nil {
		return err
	}
	if err := c.pause(ctx, "press Enter to promote the profile to monitor; Ctrl-C stops everything"); err != nil {
		return err
	}
	if version, err = s.monitor(ctx, version); err != nil {
		return err
	}
	if err := c.pause(ctx, "press Enter to enforce the profile; Ctrl-C stops everything"); err != nil {
		return err
	}
	if err := s.enforce(ctx, version); err != nil {
		return err
	}
	s.recap()
	return c.pause(ctx, "press Enter or Ctrl-C to stop everything")
}

// stage is what the steps share.
type stage struct {
	*console
	rt     *containerRuntime
	col    vigilv1.ConsumerServiceClient
	digest string
}

// learn runs the shop's traffic until the collector's profile, merged from
// the agent's draft, allows all of it; it returns that profile's version.
func (s *stage) learn(ctx context.Context) (int64, error) {
	s.step(1, 3, "learn: the image has no profile, so the agent learns what its containers do")
	if _, _, err := s.inContainer(ctx, s.rt, normal); err != nil {
		return 0, err
	}
	err := waitFor(ctx, "the agent's draft", learnTimeout, func() (bool, error) {
		d, err := draftOf(s.agentState(), s.digest)
		return d != nil, err
	})
	if err != nil {
		return 0, err
	}
	s.say("\nThe agent saves the image's draft as it grows (every %s here):", saveInterval)
	if err := s.show(ctx, s.drafts("list")...); err != nil {
		return 0, err
	}
	for range 2 {
		if _, _, err := s.inContainer(ctx, s.rt, normal); err != nil {
			return 0, err
		}
	}
	var version int64
	err = waitFor(ctx, "the collector's profile to allow the shop's traffic", learnTimeout, func() (bool, error) {
		p, doc, err := collectorProfile(ctx, s.col, s.digest)
		if err != nil {
			return false, err
		}
		version = p.GetVersion()
		err = allowsAll(doc, learned...)
		return err == nil, err
	})
	if err != nil {
		return 0, err
	}
	s.say("\nThe draft, as a profile document:")
	if err := s.show(ctx, s.drafts("show", s.digest)...); err != nil {
		return 0, err
	}
	s.say("\nThe agent sends its drafts to the collector, which merges every node's into one profile per digest:")
	return version, s.show(ctx, s.vigilctl("profiles", "list")...)
}

// monitor promotes the learned profile to monitor and does something new;
// it returns the monitor version.
func (s *stage) monitor(ctx context.Context, reviewed int64) (int64, error) {
	s.step(2, 3, "monitor: promote the reviewed profile; what it does not allow is alerted")
	version, err := s.promote(ctx, profile.ModeMonitor, reviewed)
	if err != nil {
		return 0, err
	}
	s.say("\nThe shop's usual traffic is in the profile:")
	if _, _, err := s.inContainer(ctx, s.rt, normal); err != nil {
		return 0, err
	}
	s.say("\nSomething the shop never did: the read happens, and is alerted.")
	if _, _, err := s.inContainer(ctx, s.rt, readShadow); err != nil {
		return 0, err
	}
	if err := s.waitAlert(ctx, "the monitor alert for /etc/shadow", func(a *vigilv1.Alert) bool {
		return a.GetObject().GetPath() == "/etc/shadow" && a.GetAction() == vigilv1.Action_ACTION_ALERTED
	}); err != nil {
		return 0, err
	}
	return version, s.show(ctx, s.vigilctl("alerts", "list")...)
}

// enforce promotes the profile to enforce and tries what it does not allow.
func (s *stage) enforce(ctx context.Context, monitored int64) error {
	s.step(3, 3, "enforce: what the profile does not allow is stopped in the kernel")
	if _, err := s.promote(ctx, profile.ModeEnforce, monitored); err != nil {
		return err
	}
	s.say("\nThe shop still works:")
	if _, _, err := s.inContainer(ctx, s.rt, normal); err != nil {
		return err
	}
	s.say("\nA connect the profile does not allow is refused:")
	if _, _, err := s.inContainer(ctx, s.rt, exfiltrate); err != nil {
		return err
	}
	s.say("\nAn applet of the shop's busybox that the shop never ran is stopped before it runs:")
	if _, _, err := s.inContainer(ctx, s.rt, reverseShell); err != nil {
		return err
	}
	s.say("\nA program the profile does not allow is stopped before it runs:")
	if _, _, err := s.inContainer(ctx, s.rt, strangeTool); err != nil {
		return err
	}
	stopped := func(a *vigilv1.Alert) bool {
		return a.GetAction() == vigilv1.Action_ACTION_BLOCKED || a.GetAction() == vigilv1.Action_ACTION_KILLED
	}
	if err := s.waitAlert(ctx, "the alert for the refused connect", func(a *vigilv1.Alert) bool {
		return a.GetObject().GetPort() == 4444 && stopped(a)
	}); err != nil {
		return err
	}
	if err := s.waitAlert(ctx, "the alert for the stopped program", func(a *vigilv1.Alert) bool {
		return a.GetObject().GetPath() == "/opt/tools/busybox" && stopped(a)
	}); err != nil {
		return err
	}
	if err := s.waitAlert(ctx, "the alert for the stopped applet", func(a *vigilv1.Alert) bool {
		return a.GetObject().GetPath() == "/bin/busybox" && a.GetAction() == vigilv1.Action_ACTION_KILLED
	}); err != nil {
		return err
	}
	return s.show(ctx, s.vigilctl("alerts", "list")...)
}

// promote sets the profile's mode through the collector, as an operator
// does after reviewing version expect, and waits until the agent has put
// it in the kernel for the container. It returns the new version. The
// demo's profile is learned in seconds from one container, so its evidence
// never makes it ready to enforce: it says so (profiles show) and forces.
func (s *stage) promote(ctx context.Context, mode profile.Mode, expect int64) (int64, error) {
	args := s.vigilctl("profiles", "mode", s.digest, string(mode), "--expect-version", fmt.Sprint(expect))
	if mode == profile.ModeEnforce {
		if err := s.show(ctx, s.vigilctl("profiles", "show", s.digest)...); err != nil {
			return 0, err
		}
		args = append(args, "--force")
	}
	if err := s.show(ctx, args...); err != nil {
		return 0, err
	}
	p, _, err := collectorProfile(ctx, s.col, s.digest)
	if err != nil {
		return 0, err
	}
	err = waitFor(ctx, "the agent to put the "+string(mode)+" profile in the kernel", modeTimeout, func() (bool, error) {
		return logged(stateFile(s.cfg, "agent.log"), "container profile in the kernel",
			map[string]any{"container": containerID, "mode": string(mode), "version": float64(p.GetVersion())})
	})
	if err != nil {
		return 0, err
	}
	s.say("(the agent received version %d from the collector and put it in the kernel for %s: see agent.log)", p.GetVersion(), containerID)
	return p.GetVersion(), nil
}

func (s *stage) waitAlert(ctx context.Context, what string, match func(*vigilv1.Alert) bool) error {
	return waitFor(ctx, what, alertTimeout, func() (bool, error) {
		a, err := alertOf(ctx, s.col, s.digest, match)
		return a != nil, err
	})
}

// recap lists the commands that show each stage.
func (s *stage) recap() {
	s.heading("done: what shows each stage, while the demo runs")
	for _, cmd := range [][]string{
		s.status(),
		s.drafts("list"),
		s.drafts("show", s.digest),
		s.vigilctl("profiles", "show", s.digest),
		s.vigilctl("profiles", "diff", s.digest),
		s.vigilctl("alerts", "list"),
		s.vigilctl("alerts", "tail"),
		s.vigilctl("nodes"),
	} {
		s.say("  %s", shellJoin(cmd))
	}
}
