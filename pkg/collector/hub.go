package collector

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/store"
)

// hub fans new alerts out to live subscribers. Publish never blocks: a
// subscriber whose queue is full misses the alert, and the miss is counted
// for it (to tell it) and in a metric.
type hub struct {
	mu      sync.RWMutex
	subs    map[*subscription]struct{}
	dropped prometheus.Counter
	gauge   prometheus.Gauge
}

type subscription struct {
	filter  store.Filter
	ch      chan *vigilv1.Alert
	dropped atomic.Uint64
}

func newHub(dropped prometheus.Counter, gauge prometheus.Gauge) *hub {
	return &hub{subs: make(map[*subscription]struct{}), dropped: dropped, gauge: gauge}
}

func (h *hub) subscribe(f store.Filter, queue int) *subscription {
	s := &subscription{filter: f, ch: make(chan *vigilv1.Alert, queue)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	h.gauge.Inc()
	return s
}

func (h *hub) unsubscribe(s *subscription) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
	h.gauge.Dec()
}

func (h *hub) publish(a *vigilv1.Alert) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if !s.filter.Matches(a) {
			continue
		}
		select {
		case s.ch <- a:
		default:
			s.dropped.Add(1)
			h.dropped.Inc()
		}
	}
}

// takeDropped returns and resets the number of alerts s missed.
func (s *subscription) takeDropped() uint64 {
	return s.dropped.Swap(0)
}
