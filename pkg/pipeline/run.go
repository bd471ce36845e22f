package pipeline

import (
	"context"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Handler takes each event the pipeline receives, once the process table
// has seen it.
type Handler interface {
	// Handle takes one event. ev is received into again for the next one:
	// keep nothing of it past the call. An error stops the pipeline.
	Handle(ctx context.Context, ev *sensor.Event) error
	// Idle is called whenever no event waits: a time to flush.
	Idle() error
}

// Run follows containerd and hands every event to h until ctx ends, the
// sensor closes or h fails, and returns h's error.
func (p *Pipeline) Run(ctx context.Context, h Handler) error {
	if p.resolver != nil {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.resolver.Run(ctx) // returns only when ctx ends
		}()
		defer func() {
			cancel()
			<-done
		}()
	}
	return p.receive(ctx, h)
}

// receive is the loop every event goes through. Judged containers' events
// (their violations and denials) go first: they never wait behind learning
// or host traffic, however much of it is queued.
func (p *Pipeline) receive(ctx context.Context, h Handler) error {
	judged, events := p.sensor.Judged(), p.sensor.Events()
	// One event, received into again and again: no stage keeps a pointer
	// to an event past its turn, and a fresh one per event is garbage the
	// collector would pay for at every rate.
	var ev sensor.Event
	var ok bool
	for ctx.Err() == nil {
		// The only receiver: an event already queued is taken without a
		// select, which costs more than the rest of the channel operation.
		switch {
		case len(judged) > 0:
			ev, ok = <-judged
		case len(events) > 0:
			ev, ok = <-events
		default:
			if err := h.Idle(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return nil
			case ev, ok = <-judged:
			case ev, ok = <-events:
			}
		}
		if !ok {
			return nil // the sensor closed
		}
		p.enricher.Observe(&ev)
		err := h.Handle(ctx, &ev)
		p.processed.Inc()
		if err != nil {
			return err
		}
	}
	return nil
}
