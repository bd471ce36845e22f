package sensor

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/procfs"
)

// clockResync is how often boot time is re-anchored to the wall clock.
const clockResync = 10 * time.Second

// reportLag is how many times MaxLatency a reader may lag behind its ring
// on a busy node, which Report waits out: with one MaxLatency (50 ms), the
// report of TestIoUringRefusalAlerted overtook its process's exec in each
// of two runs of the whole e2e suite on two busy cores.
const reportLag = 10

// Sensor is vigil's programs loaded and attached, and the readers that turn
// their records into Events: one per ring buffer, each class with its own
// queue, so that the events of judged containers never wait behind, or are
// dropped for, anyone else's. At a restart it reads the rings a previous
// agent's programs still write to as well (handover.go).
type Sensor struct {
	log                *zap.Logger
	types              TypeSet
	maxLatency         time.Duration // 0: the kernel wakes the reader for every event
	objs               *bpfobj.Objects
	readers            [classLimit]*ringbuf.Reader
	previous           []previousRing // a previous agent's rings, read until EndHandover
	previousStats      []*ebpf.Map    // a previous agent's counters: Stats reports their losses
	previousUnreadable sync.Once      // Stats warns once that previousStats could not be read
	handover           *handover      // nil when there is no previous agent's
	queues             [classLimit]chan *Event
	counters           userCounters
	queueLost          queueLosses
	reading            sync.WaitGroup
	readDone           chan struct{} // closed with the queues, once every reader stopped
	stopping           atomic.Bool   // set by StopReading: a flushed reader stops
	stop               chan struct{} // closed by StopReading: a previous ring's reader waits no more
	stopOnce           sync.Once
	// reportMu orders Report's sends before the queues' closing.
	reportMu sync.RWMutex
	reported bool // the queues are closed: Report sends no more

	closeOnce sync.Once
	closeErr  error
}

// New loads and attaches the programs cfg selects, with more (the
// enforcing programs, enforce.KernelConfig.Programs) on the same maps, and
// starts reading. On error, nothing stays loaded.
func New(cfg Config, log *zap.Logger, more ...bpfobj.Programs) (_ *Sensor, err error) {
	defer func() {
		if err != nil {
			for _, rings := range cfg.Previous {
				for _, m := range rings {
					m.Close()
				}
			}
		}
	}()
	if cfg.QueueSize <= 0 || cfg.JudgedQueueSize <= 0 {
		return nil, fmt.Errorf("queue sizes must be positive, got %d and %d (judged)", cfg.QueueSize, cfg.JudgedQueueSize)
	}
	if cfg.WakeupBytes > 0 && cfg.MaxLatency <= 0 {
		return nil, fmt.Errorf("batched wakeups need a positive max latency, got %v", cfg.MaxLatency)
	}
	var rings ringSizes
	if rings.other, err = ringBufferSize(cfg.RingBufferSize); err != nil {
		return nil, err
	}
	if rings.judged, err = ringBufferSize(cfg.JudgedRingBufferSize); err != nil {
		return nil, fmt.Errorf("judged: %w", err)
	}
	if cfg.HostMntNS == 0 {
		if cfg.HostMntNS, err = procfs.HostMountNamespace(cfg.ProcRoot); err != nil {
			return nil, err
		}
	}
	p := programs(cfg, rings)
	for _, m := range more {
		p = p.With(m)
	}
	s := &Sensor{
		log:        log,
		types:      cfg.Types,
		maxLatency: cfg.MaxLatency,
		queues:     [classLimit]chan *Event{make(chan *Event, cfg.QueueSize), make(chan *Event, cfg.JudgedQueueSize)},
		readDone:   make(chan struct{}),
		stop:       make(chan struct{}),
	}
	if s.objs, err = bpfobj.Load(p, log); err != nil {
		return nil, err
	}
	for _, h := range s.Hooks() {
		log.Info("sensor hook", zap.Stringer("type", h.Type), zap.String("attach", h.Attach), zap.String("reason", h.Reason))
	}
	for c, name := range ringMaps {
		if s.readers[c], err = ringbuf.NewReader(s.objs.Map(name)); err != nil {
			s.closeReaders()
			s.objs.Close()
			return nil, fmt.Errorf("open %s reader: %w", name, err)
		}
	}
	if err := s.adopt(cfg.Previous); err != nil {
		s.closeReaders()
		s.objs.Close()
		return nil, err
	}
	for c, r := range s.readers {
		s.reading.Go(func() { s.read(r, class(c), true) })
	}
	for _, p := range s.previous {
		s.reading.Go(func() {
			s.read(p.reader, p.class, false)
			s.handover.drained()
		})
	}
	go func() {
		s.reading.Wait()
		s.reportMu.Lock()
		s.reported = true
		for _, q := range s.queues {
			close(q)
		}
		s.reportMu.Unlock()
		close(s.readDone)
	}()
	return s, nil
}

// Objects are the sensor's programs and maps, which enforcement shares.
func (s *Sensor) Objects() *bpfobj.Objects { return s.objs }

// Unavailable reports why an optional family (capability, connect-guard)
// is not loaded, or nil when it is (or was not asked for).
func (s *Sensor) Unavailable(family string) error { return s.objs.Unavailable(family) }

// Judged delivers the events of containers judged against a profile
// (monitor and enforce modes): their violations and denials, execs and
// process lifecycle. A consumer
// takes them before Events': they never wait behind learning or host
// traffic. It is closed after StopReading or Close. The consumer passes
// each event to Release once done with it.
func (s *Sensor) Judged() <-chan *Event { return s.queues[classJudged] }

// Events delivers every other decoded event: learning containers', the
// host's, and those of anything the kernel judges nothing for. It is closed
// after StopReading or Close. The consumer passes each event to Release
// once done with it.
func (s *Sensor) Events() <-chan *Event { return s.queues[classOther] }

// Report hands an event userspace observed, which no program reports (the
// fanotify tier's refusal of an io_uring request's open), to the judged
// queue, as a reader does, reportLag after: what the kernel reported before
// it (its process's exec, which the alert names it by) is read by then, as
// a reader lags behind its ring under load, and is ahead of it. It is
// dropped and counted when the queue is full, and not delivered once the
// sensor stopped reading.
func (s *Sensor) Report(ev Event) {
	time.AfterFunc(reportLag*max(s.maxLatency, time.Millisecond), func() {
		s.reportMu.RLock()
		defer s.reportMu.RUnlock()
		if s.reported {
			s.log.Warn("an event reported by userspace after the sensor stopped reading is not delivered",
				zap.String("type", ev.Type.String()), zap.Uint32("pid", ev.PID))
			return
		}
		queued := newEvent()
		*queued = ev
		s.enqueue(classJudged, queued)
	})
}

// enqueue hands ev to c's queue, or counts it dropped and releases it when
// the queue is full.
func (s *Sensor) enqueue(c class, ev *Event) {
	t := ev.Type // once queued, ev is the consumer's
	select {
	case s.queues[c] <- ev:
		s.counters.delivered[c][t].Add(1)
	default:
		s.counters.droppedQueue[c][t].Add(1)
		s.queueLost.add(ev)
		Release(ev)
	}
}

// queuePoll is how often a previous ring's reader looks for room in a
// queue: 2048 records (half the judged queue) take the pipeline longer.
const queuePoll = time.Millisecond

// enqueueWaiting hands ev on to c's queue once it is less than half full,
// leaving the rest to this agent's own records, which never wait. When the
// sensor stops first, ev goes in only if there is room at once; otherwise
// it is dropped and counted. poll paces the wait.
func (s *Sensor) enqueueWaiting(c class, ev *Event, poll <-chan time.Time) {
	t := ev.Type
	q := s.queues[c]
	for len(q) >= max(cap(q)/2, 1) && !s.stopping.Load() {
		<-poll
	}
	select {
	case q <- ev:
		s.counters.delivered[c][t].Add(1)
		return
	default:
	}
	select {
	case q <- ev:
		s.counters.delivered[c][t].Add(1)
	case <-s.stop:
		s.counters.droppedQueue[c][t].Add(1)
		s.queueLost.add(ev)
		Release(ev)
	}
}

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

// read runs until r is closed, or flushed at a stop or, a previous
// agent's ring, at the hand-over's end: decode each record and hand it on
// to c's queue. own is whether r is this agent's: its reader never waits
// for a slow consumer, or its programs would find their ring full. A
// previous agent's ring holds what its programs wrote while no agent read
// (a 10 s restart on a busy node fills more than a queue), which arrives
// all at once, before the consumer runs: its reader waits for room in the
// queue (half of it: the other half is for this agent's own records,
// which arrive meanwhile), and the ring, which its programs write to until
// the release, is the backlog.
func (s *Sensor) read(r *ringbuf.Reader, c class, own bool) {
	dec := newDecoder()
	lastSync := time.Now()
	var rec ringbuf.Record
	// The deadline only bounds a wait for records the kernel wrote without
	// a wakeup; the reader consults it only when the ring is empty. Renewed
	// when it passes rather than per record: a stale one costs one empty
	// poll, a clock read per record costs every event.
	if s.maxLatency > 0 {
		r.SetDeadline(time.Now().Add(s.maxLatency))
	}
	var poll <-chan time.Time // paces a previous ring's reader waiting for its queue
	if !own {
		t := time.NewTicker(queuePoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		if !own && s.stopping.Load() {
			return
		}
		if err := r.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, ringbuf.ErrFlushed) {
				if !own || s.stopping.Load() {
					return
				}
				s.handover.pass(c) // EndHandover's: read past the release
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.SetDeadline(time.Now().Add(s.maxLatency))
				continue // nothing waiting
			}
			s.log.Warn("read ring buffer", zap.String("ring", ringMaps[c]), zap.Bool("own", own), zap.Error(err))
			continue
		}
		if s.handover != nil && !s.handover.keep(rec.RawSample, c, own) {
			continue
		}
		ev := newEvent()
		if err := dec.decode(rec.RawSample, ev); err != nil {
			Release(ev)
			s.counters.decodeErrors.Add(1)
			s.log.Debug("drop undecodable record", zap.Error(err), zap.Int("bytes", len(rec.RawSample)))
			continue
		}
		now := ev.Time // the consumer may have released ev once it is queued
		if own {
			s.enqueue(c, ev)
		} else {
			s.enqueueWaiting(c, ev, poll)
		}
		if now.Sub(lastSync) > clockResync {
			dec.syncClock()
			lastSync = now
		}
	}
}

// StopReading reads the ring buffers to their end as of now and stops;
// Judged and Events are closed once what was read is queued. What the
// programs write after stays in the rings: a pinned one
// (enforce.PreviousMaps) keeps it for the next agent.
func (s *Sensor) StopReading() error {
	s.stopping.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
	var errs []error
	for _, r := range s.readers {
		errs = append(errs, r.Flush())
	}
	// A previous agent's ring is not read to its end: its programs stay
	// pinned until EndHandover, so what is left in it is the next agent's
	// to read, not this one's to drop.
	for _, p := range s.previous {
		errs = append(errs, p.reader.Close())
	}
	<-s.readDone
	for _, err := range errs {
		if errors.Is(err, os.ErrClosed) {
			return nil // stopped already
		}
	}
	return errors.Join(errs...)
}

// closeReaders closes the readers of this agent's rings opened so far.
func (s *Sensor) closeReaders() {
	for _, r := range s.readers {
		if r != nil {
			r.Close()
		}
	}
}

// Close detaches every program, stops the readers and frees the maps.
// Events still in a ring buffer are discarded, unless it is pinned.
// Programs pinned in bpffs stay attached (with their maps) for the next
// agent. Safe to call more than once.
func (s *Sensor) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.StopReading()
		for _, r := range s.readers {
			s.closeErr = errors.Join(s.closeErr, r.Close())
		}
		for _, p := range s.previous {
			s.closeErr = errors.Join(s.closeErr, p.reader.Close(), p.ring.Close())
		}
		for _, m := range s.previousStats {
			s.closeErr = errors.Join(s.closeErr, m.Close())
		}
		s.closeErr = errors.Join(s.closeErr, s.objs.Close())
	})
	return s.closeErr
}
