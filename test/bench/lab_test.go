package main

import (
	"strings"
	"testing"
	"time"
)

// TestLoopReadBounded checks that waiting on a loop child ends: with its
// line, when it ends without one, or when it says nothing in time.
func TestLoopReadBounded(t *testing.T) {
	lp := &loopProc{args: []string{loopOpenOne, "10", "2000"}, lines: make(chan string, 4)}
	go readLines(strings.NewReader("ready\n123 456\ncut sh"), lp.lines)
	for _, want := range []string{"ready\n", "123 456\n"} {
		if got, err := lp.readLine("line", time.Minute); err != nil || got != want {
			t.Fatalf("readLine = %q, %v; want %q", got, err, want)
		}
	}
	if got, err := lp.readLine("result", time.Minute); err == nil || !strings.Contains(err.Error(), "ended without its result") {
		t.Errorf("readLine past the end = %q, %v; want an error saying it ended", got, err)
	}

	stuck := &loopProc{args: []string{loopOpenOne}, lines: make(chan string)}
	if got, err := stuck.readLine("result", 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("readLine of a silent child = %q, %v; want an error saying it is stuck", got, err)
	}
}

func TestLoopResultTimeout(t *testing.T) {
	for _, c := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{loopOpenOne, "10", "2000"}, 2*time.Second + loopResultGrace},
		{[]string{loopForbid, "1", "0"}, loopResultGrace},
		{[]string{loopForbid}, loopResultGrace},
	} {
		if got := (&loopProc{args: c.args}).resultTimeout(); got != c.want {
			t.Errorf("resultTimeout(%v) = %s, want %s", c.args, got, c.want)
		}
	}
}
