package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliout"
)

const (
	// tailBackoffMin and tailBackoffMax bound the wait between reconnects.
	tailBackoffMin = 500 * time.Millisecond
	tailBackoffMax = 30 * time.Second
	// replayMargin is how long before a lost connection the replay starts:
	// alert times are the nodes' clocks, the loss is this machine's.
	replayMargin = time.Minute
	// seenPruneAt is how many printed alerts are remembered, at least,
	// before those too old to be replayed are forgotten.
	seenPruneAt = 1024
)

// tailer prints the collector's live alerts, reconnecting when it goes away.
type tailer struct {
	o            *options
	client       vigilv1.ConsumerServiceClient
	filter       *vigilv1.AlertFilter
	stderr       io.Writer
	seen         map[alertKey]time.Time // printed alerts → alert time
	pruneAt      int                    // len(seen) at which old ones are forgotten
	reconnecting bool                   // the collector went away after a subscription
}

// run tails until ctx ends. The first connection must succeed (a wrong
// address or certificate is an error, not a wait); after that the collector
// going away is waited out.
func (t *tailer) run(ctx context.Context) error {
	backoff := tailBackoffMin
	everConnected := false
	for {
		connected, err := t.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		everConnected = everConnected || connected
		if !everConnected || !collectorGone(err) {
			return t.o.explain(err)
		}
		if connected {
			backoff = tailBackoffMin
			t.reconnecting = true
			t.replayFrom(time.Now().Add(-replayMargin))
		}
		fmt.Fprintf(t.stderr, "vigilctl: lost the collector at %s (%v); reconnecting in %s\n", t.o.server, cliout.Escape(status.Convert(err).Message()), backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, tailBackoffMax)
	}
}

// watch streams alerts until the stream ends; connected tells whether the
// collector took the subscription.
func (t *tailer) watch(ctx context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := t.client.WatchAlerts(ctx, &vigilv1.WatchAlertsRequest{Filter: t.filter})
	if err != nil {
		return false, err
	}
	// The collector sends headers once it has subscribed.
	if _, err := stream.Header(); err != nil {
		return false, err
	}
	if t.reconnecting {
		t.reconnecting = false
		fmt.Fprintf(t.stderr, "vigilctl: reconnected to %s; alerts since %s replayed\n", t.o.server,
			t.filter.GetSince().AsTime().Local().Format(time.TimeOnly))
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return true, err
		}
		if d := ev.GetDropped(); d != nil {
			fmt.Fprintln(t.stderr, t.o.paint(colorYellow, fmt.Sprintf("… %d alerts missed: this tail read too slowly", d.GetCount())))
			continue
		}
		a := ev.GetAlert()
		if t.printed(a) {
			continue
		}
		if err := t.o.printAlert(a); err != nil {
			return true, err
		}
		t.remember(a)
	}
}

// alertKey names an alert: the collector stores each (node, id) once.
type alertKey struct{ node, id string }

func keyOf(a *vigilv1.Alert) alertKey { return alertKey{a.GetNode(), a.GetId()} }

// printed tells whether a was printed already: a replay brings it again.
func (t *tailer) printed(a *vigilv1.Alert) bool {
	_, ok := t.seen[keyOf(a)]
	return ok
}

// remember notes a printed alert, so that a replay does not print it again.
func (t *tailer) remember(a *vigilv1.Alert) {
	t.seen[keyOf(a)] = a.GetTime().AsTime()
	if len(t.seen) >= max(t.pruneAt, seenPruneAt) {
		t.forgetBefore(time.Now().Add(-replayMargin))
		t.pruneAt = 2 * len(t.seen) // a burst within the margin is not pruned at every alert
	}
}

// replayFrom asks the next subscription for the stored alerts from since on
// (never before the --since asked for), and forgets printed alerts older
// than that: no replay can bring them back.
func (t *tailer) replayFrom(since time.Time) {
	if t.filter.GetSince() == nil || t.filter.GetSince().AsTime().Before(since) {
		t.filter.Since = timestamppb.New(since)
	}
	t.forgetBefore(t.filter.GetSince().AsTime())
}

func (t *tailer) forgetBefore(since time.Time) {
	for k, at := range t.seen {
		if at.Before(since) {
			delete(t.seen, k)
		}
	}
}

// collectorGone tells an error of the collector going away (stopped,
// restarted, unreachable) from one a retry cannot fix.
func collectorGone(err error) bool {
	return errors.Is(err, io.EOF) || status.Code(err) == codes.Unavailable
}
