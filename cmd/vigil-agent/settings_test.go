package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// execute runs vigil-agent with args in-process.
func execute(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// saveDrafts saves drafts of images into stateDir as a running agent does.
func saveDrafts(t *testing.T, stateDir string, images map[string]string) {
	t.Helper()
	store, err := draftstore.Open(filepath.Join(stateDir, "drafts"), profile.Limits{}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for image, digest := range images {
		d, err := profile.NewDraft(image, digest, profile.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Observe(profile.Observation{Kind: profile.KindExec, Path: "/bin/sh", ContainerID: "c1", Node: "n1", Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := store.Save(d); err != nil {
			t.Fatal(err)
		}
	}
}

func digestOf(hex string) string { return "sha256:" + strings.Repeat(hex, 64/len(hex)) }

// tree lists every path under dir, to tell whether a command wrote there.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var paths []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Join(paths, "\n")
}

// TestReadOnlyCommandsFindRunsState checks that profiles and status take
// their settings where `run` takes them (default, environment, config file)
// and that reading changes nothing in the state directory.
func TestReadOnlyCommandsFindRunsState(t *testing.T) {
	run, _, err := newRootCommand().Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"profiles", "list"}, {"profiles", "show"}, {"status"}, {"unpin"}} {
		cmd, _, err := newRootCommand().Find(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"state-dir", "metrics-addr", "pin-dir"} {
			if f := cmd.Flags().Lookup(name); f != nil && f.DefValue != run.Flags().Lookup(name).DefValue {
				t.Errorf("%s --%s defaults to %q, run's to %q", c, name, f.DefValue, run.Flags().Lookup(name).DefValue)
			}
		}
	}

	state := filepath.Join(t.TempDir(), "agent")
	nginx := digestOf("1")
	saveDrafts(t, state, map[string]string{"nginx:1.27": nginx})
	before := tree(t, state)

	t.Setenv("VIGIL_AGENT_STATE_DIR", state)
	out, _, err := execute(t, "profiles", "list")
	if err != nil || !strings.Contains(out, nginx) {
		t.Fatalf("profiles list with VIGIL_AGENT_STATE_DIR: %v\n%s", err, out)
	}
	os.Unsetenv("VIGIL_AGENT_STATE_DIR")

	config := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "state-dir: %s\ndefault-mode: monitor\n", state), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = execute(t, "profiles", "show", nginx, "--config", config)
	if err != nil || !strings.Contains(out, "kind: ImageProfile") {
		t.Fatalf("profiles show with run's config file: %v\n%s", err, out)
	}
	if after := tree(t, state); after != before {
		t.Errorf("reading drafts changed the state directory:\nbefore\n%s\nafter\n%s", before, after)
	}

	empty := filepath.Join(t.TempDir(), "fresh")
	for _, args := range [][]string{{"profiles", "list"}, {"profiles", "show", nginx}} {
		_, _, err := execute(t, append(args, "--state-dir", empty)...)
		if err == nil || !strings.Contains(err.Error(), "no agent has saved drafts in --state-dir "+empty) {
			t.Errorf("%v on a state dir no agent used: %v", args, err)
		}
		if _, err := os.Stat(empty); !os.IsNotExist(err) {
			t.Fatalf("%v created %s: %v", args, empty, err)
		}
	}
}

// TestStatusFindsRunsMetrics serves an agent's metrics on an address given
// to status only through run's config file, as ":port" like the DaemonSet's.
func TestStatusFindsRunsMetrics(t *testing.T) {
	addr := serveMetrics(t, `vigil_enforcement_tier{hook="exec",reason="r",tier="signal"} 1`+"\n")
	config := filepath.Join(t.TempDir(), "agent.yaml")
	_, port, _ := net.SplitHostPort(addr)
	if err := os.WriteFile(config, fmt.Appendf(nil, "metrics-addr: \":%s\"\n", port), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := execute(t, "status", "--config", config)
	if err != nil || !strings.Contains(out, "signal") || strings.Contains(out, "probing") {
		t.Fatalf("status with run's config file: %v\n%s", err, out)
	}
	if _, _, err := execute(t, "status", "--metrics-addr", ""); err == nil || !strings.Contains(err.Error(), "serves no metrics") {
		t.Fatalf("status with no metrics address: %v", err)
	}
}
