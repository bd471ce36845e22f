package pipeline

import (
	"context"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Handler takes each event the pipeline receives, once the process table
// has seen it.
type Handler interface {
	// Handle takes one event. ev is released to the sensor for the next
	// one after the call: keep no pointer to it or into it past the call
	// (its strings and slices may be kept). An error stops the pipeline.
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
	if p.enforcement != nil {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-p.enforcement.Kernel().Released():
				p.sensor.EndHandover()
			case <-ctx.Done():
			}
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
	var ev *sensor.Event
	var ok bool
	for {
		if ctx.Err() != nil {
			return p.finish(ctx, h)
		}
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
				return p.finish(ctx, h)
			case ev, ok = <-judged:
			case ev, ok = <-events:
			}
		}
		if !ok {
			// The sensor stopped reading: the other queue may still hold events.
			return p.finish(ctx, h)
		}
		if err := p.handle(ctx, h, ev); err != nil {
			return err
		}
	}
}

// handle passes one event through the process table to h and releases it:
// no stage keeps a pointer to an event past its turn.
func (p *Pipeline) handle(ctx context.Context, h Handler, ev *sensor.Event) error {
	p.enricher.Observe(ev)
	err := h.Handle(ctx, ev)
	sensor.Release(ev)
	p.processed.Inc()
	return err
}

// finish stops reading the ring buffers and hands h what was read from
// them already: nothing taken from a ring is lost at a stop, and what is
// left in a pinned one the next agent reads.
func (p *Pipeline) finish(ctx context.Context, h Handler) error {
	if err := p.sensor.StopReading(); err != nil {
		p.log.Warn("stop reading the ring buffers", zap.Error(err))
	}
	ctx = context.WithoutCancel(ctx)
	// Both queues are closed now: the judged one first, as ever.
	for _, queue := range []<-chan *sensor.Event{p.sensor.Judged(), p.sensor.Events()} {
		for ev := range queue {
			if err := p.handle(ctx, h, ev); err != nil {
				return err
			}
		}
	}
	return nil
}
