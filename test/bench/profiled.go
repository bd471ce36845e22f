package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// runArgs are `vigil-agent run`'s arguments as the bench gives them: the
// lab's containerd, a state directory and alerts file in dir, profiles from
// profilesDir ("" for none), no pinning (enforcement ends with the agent).
func runArgs(socket, dir, profilesDir string, extra ...string) []string {
	args := []string{"run", "--node-name", "bench", "--containerd-socket", socket,
		"--state-dir", filepath.Join(dir, "state"), "--alerts-file", alertsFile(dir), "--pin-dir=",
		"--profiles-dir=" + profilesDir, "--log-level", "warn"}
	return append(args, extra...)
}

func alertsFile(dir string) string { return filepath.Join(dir, "alerts.jsonl") }

// runDir is a new directory for one `vigil-agent run`'s state and alerts.
func runDir(b *bench) (string, error) {
	b.agentRuns++
	dir := filepath.Join(b.dir, fmt.Sprintf("agent-%d", b.agentRuns))
	return dir, os.MkdirAll(dir, 0o700)
}

// runCommand is the command line of `vigil-agent run` with the bench's
// paths named; profiles says whether it has a --profiles-dir.
func runCommand(bin string, profiles bool, extra ...string) string {
	dir := ""
	if profiles {
		dir = "$PROFILES_DIR"
	}
	return bin + " " + strings.Join(runArgs("$CONTAINERD_SOCKET", "$DIR", dir, extra...), " ")
}

// agentRun is `vigil-agent run` judging the lab's container in mode: with
// the learned profile (monitor, enforce) or none (learn). Before the loops
// run it proves the mode is in force: the container is attributed and
// scoped in the kernel, and a forbidden open is denied and alerted
// (enforce) or alerted (monitor). After each row it proves it again: a
// row's figures count only while the agent still judges.
func agentRun(bin string, mode profile.Mode) condition {
	name := map[profile.Mode]string{profile.ModeEnforce: "enforced", profile.ModeMonitor: "monitored", profile.ModeLearn: "learning"}[mode]
	var check func(*bench, environment) error
	if mode != profile.ModeLearn {
		check = func(b *bench, env environment) error {
			a, ok := env.(*runningAgent)
			if !ok {
				return fmt.Errorf("%s: no agent to check", name)
			}
			if _, err := checkForbidden(b, a, mode); err != nil {
				return fmt.Errorf("%s, after the row: %w", name, err)
			}
			b.rechecks[mode]++
			return nil
		}
	}
	return condition{
		check:   check,
		name:    name,
		command: runCommand(bin, mode != profile.ModeLearn) + "  # the container's image: " + modeNote(mode),
		start: func(b *bench) (environment, error) {
			dir, err := runDir(b)
			if err != nil {
				return nil, err
			}
			a, err := startAgent(bin, runArgs(b.lab.daemon.Address, dir, b.profiles[mode]), true)
			if err != nil {
				return nil, err
			}
			if err := inForce(b, a, mode, alertsFile(dir)); err != nil {
				return nil, errors.Join(fmt.Errorf("%s: %w", name, err), a.stop())
			}
			return a, nil
		},
	}
}

func modeNote(mode profile.Mode) string {
	if mode == profile.ModeLearn {
		return "no profile, learned"
	}
	return fmt.Sprintf("the learned profile in %s mode from --profiles-dir", mode)
}

// inForce waits until the agent judges the lab's container in mode, and
// checks what a forbidden open does there.
func inForce(b *bench, a *runningAgent, mode profile.Mode, alerts string) error {
	gauge := "vigil_kernel_profiled_containers"
	if mode == profile.ModeLearn {
		gauge = "vigil_kernel_learning_containers"
	}
	err := a.waitFor("judging the container ("+gauge+" 1)", readyTimeout, func() (bool, error) {
		m, err := a.metrics()
		return m.sum(gauge, "") == 1, err
	})
	if err != nil || mode == profile.ModeLearn {
		return err
	}
	file, err := checkForbidden(b, a, mode)
	if err != nil {
		return err
	}
	return a.waitFor("alerting the forbidden open in "+alerts, readyTimeout, func() (bool, error) {
		doc, err := os.ReadFile(alerts)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return bytes.Contains(doc, []byte(`"`+file+`"`)), err
	})
}

// checkForbidden opens the agent's next forbidden file in the container
// and checks that the agent judged it in mode: denied with EPERM or EACCES
// (enforce) or let through (monitor), and reported either way (the
// agent's alert counter up). It returns the file it opened.
func checkForbidden(b *bench, a *runningAgent, mode profile.Mode) (string, error) {
	if a.checks == len(forbiddenFiles) {
		return "", fmt.Errorf("no forbidden file left for check %d: each may be opened once per agent", a.checks+1)
	}
	file := forbiddenFiles[a.checks]
	a.checks++
	before, err := a.sample()
	if err != nil {
		return "", err
	}
	got, err := b.lab.forbiddenOpen(file)
	if err != nil {
		return "", err
	}
	want := openAllowed
	if mode == profile.ModeEnforce {
		want = openDenied
	}
	if !strings.HasPrefix(got, want) {
		return "", fmt.Errorf("a forbidden open (%s) in the %sd container was %s, want %s", file, mode, got, want)
	}
	if mode == profile.ModeEnforce && got != openDenied+"-EPERM" && got != openDenied+"-EACCES" {
		return "", fmt.Errorf("a forbidden open (%s) in the enforced container was %s, want EPERM or EACCES", file, got)
	}
	b.forbidden[mode] = got
	err = a.waitFor("reporting the forbidden open of "+file+" (vigil_alerts_total up)", readyTimeout, func() (bool, error) {
		m, err := a.metrics()
		return m.counters().alerts > before.alerts, err
	})
	if err != nil {
		return "", err
	}
	// Whatever else the open caused is counted before the next row's
	// first sample, not in it.
	_, err = a.settle()
	return file, err
}

// forbiddenOpen opens path in the container and returns what happened:
// openAllowed, or openDenied and the errno.
func (l *lab) forbiddenOpen(path string) (string, error) {
	lp, err := l.startLoop(loopForbid, "1", "0", path)
	if err != nil {
		return "", err
	}
	line, err := lp.result()
	if err != nil {
		return "", fmt.Errorf("forbidden open: %w", err)
	}
	_, got, _ := strings.Cut(strings.TrimSpace(line), " ")
	return got, nil
}
