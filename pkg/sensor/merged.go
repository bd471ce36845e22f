package sensor

// Merged returns every event of s on one channel, judged ones first when
// both paths have some waiting, closed once s closes: for consumers with
// no loop of their own to take Judged first (benchmarks, tests). Each is a
// copy, its original released. The pipeline receives from both directly:
// a goroutine between costs a hand-over per event.
func Merged(s *Sensor) <-chan Event {
	out := make(chan Event)
	go func() {
		defer close(out)
		judged, events := s.Judged(), s.Events()
		for judged != nil || events != nil {
			var ev *Event
			var ok bool
			from := &judged
			select {
			case ev, ok = <-judged:
			default:
				select {
				case ev, ok = <-judged:
				case ev, ok = <-events:
					from = &events
				}
			}
			if !ok {
				*from = nil // closed: never ready again
				continue
			}
			copied := *ev
			Release(ev)
			out <- copied
		}
	}()
	return out
}
