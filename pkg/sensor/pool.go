package sensor

import "sync"

// events are the Events the readers decode into, handed back by Release.
// The queues carry pointers: a slot costs 8 bytes where an Event costs
// hundreds, so a queue takes memory for the events waiting in it, not for
// its capacity (16 384 slots of Event values were 5.5 MiB of the agent's
// heap, all of it touched once that many events had gone through), and
// Go's heap goal, twice what is live, no longer doubles them.
var events = sync.Pool{New: func() any { return new(Event) }}

func newEvent() *Event {
	ev := events.Get().(*Event)
	ev.released = false
	return ev
}

// Release hands back an event received from Judged or Events once the
// consumer is done with it; the sensor fills it with another event. The
// consumer must keep no pointer to it or into it past the call; the
// strings and slices it holds are never reused and may be kept. Releasing
// an event twice panics: the sensor would hand it out twice, and one event
// would overwrite another.
func Release(ev *Event) {
	if ev.released {
		panic("sensor: event released twice")
	}
	*ev = Event{released: true} // drops its strings and slices for the collector
	events.Put(ev)
}
