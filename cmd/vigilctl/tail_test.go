package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/test/testutil"
)

// sendRetrying sends alerts, retrying while the agent's connection finds a
// restarted collector.
func (c *testCollector) sendRetrying(t *testing.T, alerts ...*vigilv1.Alert) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stream, err := c.agent.StreamAlerts(ctx)
		if err == nil {
			if err = stream.Send(&vigilv1.AlertBatch{Seq: 1, Alerts: alerts}); err == nil {
				_, err = stream.Recv()
			}
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("send to the collector: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// printedIDs reads the ids of the alerts a tail -o json printed.
func printedIDs(t *testing.T, out string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var a struct{ ID string }
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		ids[a.ID]++
	}
	return ids
}

// TestAlertsTailReconnects restarts a real collector under a running tail:
// the tail says so on stderr, reconnects, prints the alert stored while it
// was away and the ones after, and never one twice.
func TestAlertsTailReconnects(t *testing.T) {
	c := startCollector(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	cmd := newRootCmd()
	cmd.SetArgs(c.flags("alerts", "tail", "-o", "json"))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	waitPrinted := func(id string) {
		t.Helper()
		for printedIDs(t, out.String())[id] == 0 {
			select {
			case err := <-done:
				t.Fatalf("tail ended: %v\nstderr:\n%s", err, errOut.String())
			case <-ctx.Done():
				t.Fatalf("tail never printed %s:\n%s\nstderr:\n%s", id, out.String(), errOut.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// Until the tail's subscription is in place, alerts sent pass it by; the
	// collector stores an id once, so each try has its own.
	for i := 0; len(printedIDs(t, out.String())) == 0; i++ {
		c.send(t, alert(fmt.Sprintf("before-%d", i), "shop", time.Now()))
		if i == 200 {
			t.Fatalf("tail printed nothing: %q", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	c.restart(t)
	// Sent while the tail waits to reconnect: it comes back in the replay.
	for !strings.Contains(errOut.String(), "lost the collector") {
		select {
		case err := <-done:
			t.Fatalf("tail ended: %v\nstderr:\n%s", err, errOut.String())
		case <-ctx.Done():
			t.Fatalf("tail never lost the collector:\n%s", errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.sendRetrying(t, alert("during", "shop", time.Now()))
	waitPrinted("during")
	c.send(t, alert("after", "shop", time.Now()))
	waitPrinted("after")

	for id, n := range printedIDs(t, out.String()) {
		if n != 1 {
			t.Errorf("alert %s printed %d times", id, n)
		}
	}
	stderr := errOut.String()
	if !strings.Contains(stderr, "lost the collector at "+c.addr) || !strings.Contains(stderr, "reconnecting in") ||
		!strings.Contains(stderr, "reconnected to "+c.addr) {
		t.Errorf("tail did not say it reconnected:\n%s", stderr)
	}
	// Each message is a line of its own.
	if !strings.HasSuffix(stderr, "\n") || strings.Contains(stderr, `\n`) {
		t.Errorf("stderr is not whole lines: %q", stderr)
	}
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if !strings.HasPrefix(line, "vigilctl: ") {
			t.Errorf("stderr line %q is not one message", line)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("tail after cancel: %v", err)
	}

	// A collector never reached is a wrong setting, not an outage to wait out.
	args := c.flags("alerts", "tail")
	args[3] = testutil.FreeAddr(t) // the value of --server
	if _, err := run(t, nil, args...); err == nil || !strings.Contains(err.Error(), "is vigil-collector running") {
		t.Errorf("tail of a collector never reached: %v", err)
	}
}

// TestTailKeysAlertsByNodeAndID remembers printed alerts by node and id,
// never by a string made of both: these two would join into the same one.
func TestTailKeysAlertsByNodeAndID(t *testing.T) {
	tl := &tailer{seen: map[alertKey]time.Time{}}
	printed := &vigilv1.Alert{Node: `n\x00a`, Id: "b", Time: timestamppb.Now()}
	other := &vigilv1.Alert{Node: "n", Id: `a\x00b`, Time: timestamppb.Now()}
	tl.remember(printed)
	if !tl.printed(printed) || tl.printed(other) {
		t.Errorf("printed %v, other %v: want true, false", tl.printed(printed), tl.printed(other))
	}
}
