package sensor

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/procfs"
)

// clockResync is how often boot time is re-anchored to the wall clock.
const clockResync = 10 * time.Second

// Sensor is vigil's programs loaded and attached, and the reader that turns
// their records into Events.
type Sensor struct {
	log        *zap.Logger
	maxLatency time.Duration // 0: the kernel wakes the reader for every event
	objs       *bpfobj.Objects
	reader     *ringbuf.Reader
	events     chan Event
	counters   userCounters
	queueLost  queueLosses
	readDone   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New loads and attaches the programs cfg selects, with more (the
// enforcing programs, enforce.KernelConfig.Programs) on the same maps, and
// starts reading. On error, nothing stays loaded.
func New(cfg Config, log *zap.Logger, more ...bpfobj.Programs) (_ *Sensor, err error) {
	if cfg.QueueSize <= 0 {
		return nil, fmt.Errorf("queue size must be positive, got %d", cfg.QueueSize)
	}
	if cfg.WakeupBytes > 0 && cfg.MaxLatency <= 0 {
		return nil, fmt.Errorf("batched wakeups need a positive max latency, got %v", cfg.MaxLatency)
	}
	ringSize, err := ringBufferSize(cfg.RingBufferSize)
	if err != nil {
		return nil, err
	}
	if cfg.HostMntNS == 0 {
		if cfg.HostMntNS, err = procfs.HostMountNamespace(cfg.ProcRoot); err != nil {
			return nil, err
		}
	}
	p := programs(cfg, ringSize)
	for _, m := range more {
		p = p.With(m)
	}
	s := &Sensor{
		log:        log,
		maxLatency: cfg.MaxLatency,
		events:     make(chan Event, cfg.QueueSize),
		readDone:   make(chan struct{}),
	}
	if s.objs, err = bpfobj.Load(p, log); err != nil {
		return nil, err
	}
	s.reader, err = ringbuf.NewReader(s.objs.Map(bpfobj.RecordMapEvents))
	if err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("open ring buffer reader: %w", err)
	}
	go s.read()
	return s, nil
}

// Objects are the sensor's programs and maps, which enforcement shares.
func (s *Sensor) Objects() *bpfobj.Objects { return s.objs }

// Unavailable reports why an optional family (capability, connect-guard)
// is not loaded, or nil when it is (or was not asked for).
func (s *Sensor) Unavailable(family string) error { return s.objs.Unavailable(family) }

// Events delivers decoded events. It is closed after Close.
func (s *Sensor) Events() <-chan Event { return s.events }

// AddCgroup adds a cgroup (by id) to the kernel's cgroup filter list.
func (s *Sensor) AddCgroup(id uint64) error {
	if err := s.objs.Map(bpfobj.RecordMapCgroupFilter).Put(id, uint8(1)); err != nil {
		return fmt.Errorf("add cgroup %d to filter: %w", id, err)
	}
	return nil
}

// RemoveCgroup removes a cgroup from the filter list.
func (s *Sensor) RemoveCgroup(id uint64) error {
	if err := s.objs.Map(bpfobj.RecordMapCgroupFilter).Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("remove cgroup %d from filter: %w", id, err)
	}
	return nil
}

// read runs until the reader is closed: decode each record and hand it on,
// never blocking the ring buffer on a slow consumer.
func (s *Sensor) read() {
	defer close(s.readDone)
	defer close(s.events)

	dec := newDecoder()
	lastSync := time.Now()
	var rec ringbuf.Record
	// The deadline only bounds a wait for records the kernel wrote without
	// a wakeup; the reader consults it only when the ring is empty. Renewed
	// when it passes rather than per record: a stale one costs one empty
	// poll, a clock read per record costs every event.
	if s.maxLatency > 0 {
		s.reader.SetDeadline(time.Now().Add(s.maxLatency))
	}
	for {
		if err := s.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.reader.SetDeadline(time.Now().Add(s.maxLatency))
				continue // nothing waiting
			}
			s.log.Warn("read ring buffer", zap.Error(err))
			continue
		}
		var ev Event
		if err := dec.decode(rec.RawSample, &ev); err != nil {
			s.counters.decodeErrors.Add(1)
			s.log.Debug("drop undecodable record", zap.Error(err), zap.Int("bytes", len(rec.RawSample)))
			continue
		}
		select {
		case s.events <- ev:
			s.counters.delivered[ev.Type].Add(1)
		default:
			s.counters.droppedQueue[ev.Type].Add(1)
			s.queueLost.add(&ev)
		}
		if now := ev.Time; now.Sub(lastSync) > clockResync {
			dec.syncClock()
			lastSync = now
		}
	}
}

// Close detaches every program, stops the reader and frees the maps. Events
// still in the ring buffer are discarded. Programs pinned in bpffs stay
// attached (with their maps) for the next agent. Safe to call more than once.
func (s *Sensor) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.reader.Close()
		<-s.readDone
		s.closeErr = errors.Join(s.closeErr, s.objs.Close())
	})
	return s.closeErr
}
