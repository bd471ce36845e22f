package sensor

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"go.uber.org/zap"
)

// clockResync is how often boot time is re-anchored to the wall clock.
const clockResync = 10 * time.Second

// Sensor is vigil's programs loaded and attached, and the reader that turns
// their records into Events.
type Sensor struct {
	log        *zap.Logger
	maxLatency time.Duration        // 0: the kernel wakes the reader for every event
	maps       map[string]*ebpf.Map // shared by every family
	families   []*loadedFamily
	// unavailable holds the optional families that could not load, and why.
	unavailable map[string]error
	pinDir      string // "" when enforcement does not outlive the sensor
	hostMntNS   uint32
	generation  string // this run's pin directory
	reader      *ringbuf.Reader
	events      chan Event
	counters    userCounters
	readDone    chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New loads and attaches the programs cfg selects and starts reading. On
// error, nothing stays loaded.
func New(cfg Config, log *zap.Logger) (_ *Sensor, err error) {
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
		if cfg.HostMntNS, err = HostMountNamespace("/proc"); err != nil {
			return nil, err
		}
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}

	s := &Sensor{
		log:         log,
		maxLatency:  cfg.MaxLatency,
		hostMntNS:   cfg.HostMntNS,
		maps:        make(map[string]*ebpf.Map),
		unavailable: make(map[string]error),
		events:      make(chan Event, cfg.QueueSize),
		readDone:    make(chan struct{}),
	}
	defer func() {
		if err != nil {
			if s.generation != "" { // nothing of a failed start stays enforcing
				unpinGeneration(s.generation)
			}
			s.release()
		}
	}()

	if err := s.createMaps(ringSize, cfg.LearnWindow > 0); err != nil {
		return nil, err
	}
	for _, id := range cfg.Cgroups {
		if err := s.AddCgroup(id); err != nil {
			return nil, err
		}
	}
	vars := map[string]any{
		recordVarCgroupFilterMode: uint8(cfg.CgroupFilter),
		recordVarSelfTgid:         uint32(0),
		recordVarWakeupBytes:      wakeupBytes(cfg, ringSize),
		recordVarHostMntns:        cfg.HostMntNS,
		recordVarKillTier:         !cfg.LSM,
		sysexitVarTraceOpens:      cfg.Types.Has(TypeOpen),
		sysexitVarTraceConnects:   cfg.Types.Has(TypeConnect),
		recordVarLearnWindowNs:    uint64(max(cfg.LearnWindow, 0)),
	}
	if cfg.ExcludeSelf {
		vars[recordVarSelfTgid] = uint32(os.Getpid())
	}
	// One decoding of the kernel's BTF for every family, dropped after.
	cache := btf.NewCache()
	for _, f := range families {
		if !f.always && !f.wanted(cfg.Types) {
			continue
		}
		if err := s.load(f, vars, cfg.CgroupRoot, cache); err != nil {
			return nil, err
		}
	}
	if cfg.GuardConnect {
		if err := s.load(guardFamily, vars, cfg.CgroupRoot, cache); err != nil {
			return nil, err
		}
	}
	if cfg.LSM {
		if err := s.load(lsmFamily, vars, cfg.CgroupRoot, cache); err != nil {
			return nil, err
		}
	}
	debug.FreeOSMemory() // the BTF decoded for loading is tens of MiB the agent no longer needs

	if cfg.PinDir != "" {
		if err := ensureBPFFS(cfg.PinDir); err != nil {
			return nil, err
		}
		s.pinDir = cfg.PinDir
		if s.generation, err = s.pinGeneration(cfg.PinDir); err != nil {
			return nil, err
		}
	}

	s.reader, err = ringbuf.NewReader(s.maps[recordMapEvents])
	if err != nil {
		return nil, fmt.Errorf("open ring buffer reader: %w", err)
	}
	go s.read()
	return s, nil
}

// load loads and attaches one family; an optional one that fails is
// recorded in unavailable and skipped.
func (s *Sensor) load(f family, vars map[string]any, cgroupRoot string, cache *btf.Cache) error {
	lf, err := loadFamily(f, s.maps, vars, cgroupRoot, cache)
	if err != nil {
		if f.optional {
			s.unavailable[f.name] = err
			s.log.Warn("hook family unavailable on this kernel", zap.String("family", f.name), zap.Error(err))
			return nil
		}
		return err
	}
	s.families = append(s.families, lf)
	s.log.Debug("hook family attached", zap.String("family", f.name), zap.Int("programs", len(lf.links)))
	return nil
}

// Unavailable reports why an optional family (capability, connect-guard)
// is not loaded, or nil when it is (or was not asked for).
func (s *Sensor) Unavailable(family string) error { return s.unavailable[family] }

func (s *Sensor) createMaps(ringSize uint32, learn bool) error {
	spec, err := loadRecord()
	if err != nil {
		return fmt.Errorf("load shared map specs: %w", err)
	}
	spec.Maps[recordMapEvents].MaxEntries = ringSize
	if !learn { // every use is reported: the LRUs, preallocated, would sit idle
		for _, name := range []string{recordMapLearnOpens, recordMapLearnConnects, recordMapLearnCaps} {
			spec.Maps[name].MaxEntries = 1
		}
	}
	// Every map the records object declares is shared by all families.
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue // .rodata and .bss are each object's own
		}
		m, err := ebpf.NewMap(ms)
		if err != nil {
			return fmt.Errorf("create map %s: %w", name, err)
		}
		s.maps[name] = m
	}
	return nil
}

// Events delivers decoded events. It is closed after Close.
func (s *Sensor) Events() <-chan Event { return s.events }

// AddCgroup adds a cgroup (by id) to the kernel's cgroup filter list.
func (s *Sensor) AddCgroup(id uint64) error {
	if err := s.maps[recordMapCgroupFilter].Put(id, uint8(1)); err != nil {
		return fmt.Errorf("add cgroup %d to filter: %w", id, err)
	}
	return nil
}

// RemoveCgroup removes a cgroup from the filter list.
func (s *Sensor) RemoveCgroup(id uint64) error {
	if err := s.maps[recordMapCgroupFilter].Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
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
		}
		if now := ev.Time; now.Sub(lastSync) > clockResync {
			dec.syncClock()
			lastSync = now
		}
	}
}

// Close detaches every program, stops the reader and frees the maps. Events
// still in the ring buffer are discarded. Pinned enforcing programs stay
// attached (with their maps) for the next agent. Safe to call more than once.
func (s *Sensor) Close() error {
	s.closeOnce.Do(func() {
		if s.reader != nil {
			s.closeErr = s.reader.Close()
			<-s.readDone
		}
		s.closeErr = errors.Join(s.closeErr, s.release())
	})
	return s.closeErr
}

// release detaches and unloads everything New created.
func (s *Sensor) release() error {
	var errs []error
	for _, lf := range s.families {
		errs = append(errs, lf.close())
	}
	s.families = nil

	for _, m := range s.maps {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}
