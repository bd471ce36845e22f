package ship

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SpoolOptions bound the spool.
type SpoolOptions struct {
	// SegmentBytes: a segment file is closed and a new one started once it
	// reaches this size (default 4 MiB). Whole segments are deleted once
	// every record in them is delivered.
	SegmentBytes int64
	// MaxBytes caps the spool on disk (default 256 MiB). Records that do
	// not fit are dropped (newest first: see the package documentation).
	MaxBytes int64
	// SyncEvery: 0 fsyncs after every append (each append carries all the
	// alerts queued at that moment, so this is a group commit); a positive
	// interval fsyncs at most that often, trading the last interval's alerts
	// on power loss (not on a crash of the agent) for fewer fsyncs.
	SyncEvery time.Duration
}

func (o *SpoolOptions) setDefaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 4 << 20
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	// Room for several segments, so that deleting delivered ones frees space.
	o.SegmentBytes = min(o.SegmentBytes, o.MaxBytes/4)
}

const (
	segmentSuffix = ".seg"
	cursorFile    = "delivered"
)

type segment struct {
	first uint64 // sequence number in the file name
	last  uint64 // last sequence number written; first-1 when empty
	size  int64
	path  string
}

// spool is the append-only, size-capped on-disk queue between the agent's
// memory queue and the collector. Records get consecutive sequence
// numbers; the delivered cursor says every record up to it was acknowledged.
type spool struct {
	dir  string
	opts SpoolOptions
	m    *shipMetrics

	mu        sync.Mutex
	segs      []*segment // oldest first; the last is the one appended to
	active    *os.File
	nextSeq   uint64
	total     int64
	delivered uint64
	lastSync  time.Time
	dirty     bool
	cursorAt  time.Time
	// cursorFailing: the last cursor write failed (and was reported).
	cursorFailing bool
	notify        chan struct{}
}

func segmentName(first uint64) string { return fmt.Sprintf("%016x%s", first, segmentSuffix) }

// openSpool opens or creates the spool in dir. Segments are checked record
// by record: a torn or corrupt tail is cut off and counted, and what comes
// before it is kept.
func openSpool(dir string, o SpoolOptions, m *shipMetrics) (*spool, error) {
	o.setDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	// The directory is the spool's alone; one made before, more open, is
	// closed (its files are created 0600).
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make spool directory private: %w", err)
	}
	s := &spool{dir: dir, opts: o, m: m, notify: make(chan struct{}, 1), lastSync: time.Now()}
	delivered, err := s.readCursor()
	if err != nil {
		return nil, err
	}
	s.delivered = delivered
	s.nextSeq = delivered + 1
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read spool directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 16, 64)
		if err != nil || first == 0 {
			continue // not ours: sequence numbers start at 1
		}
		seg, err := s.recoverSegment(filepath.Join(dir, name), first)
		if err != nil {
			return nil, err
		}
		if seg.last <= s.delivered {
			if err := os.Remove(seg.path); err != nil {
				return nil, fmt.Errorf("remove delivered segment: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, seg)
		s.total += seg.size
		s.nextSeq = max(s.nextSeq, seg.last+1)
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return compareUint(a.first, b.first) })
	m.spoolBytes.Set(float64(s.total))
	// Appends after a restart go to a fresh segment: the old ones are only read.
	return s, nil
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// recoverSegment validates a segment and cuts off a bad tail.
func (s *spool) recoverSegment(path string, first uint64) (*segment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spool segment: %w", err)
	}
	seg := &segment{first: first, last: first - 1, path: path}
	off := 0
	for off < len(data) {
		r, n, err := decodeRecord(data[off:])
		if err == nil && r.seq != seg.last+1 {
			err = errBadRecord
		}
		if err != nil {
			s.m.corrupt.Inc()
			s.m.corruptBytes.Add(float64(len(data) - off))
			if err := os.Truncate(path, int64(off)); err != nil {
				return nil, fmt.Errorf("cut corrupt tail of spool segment: %w", err)
			}
			break
		}
		seg.last = r.seq
		off += n
	}
	seg.size = int64(off)
	return seg, nil
}

func (s *spool) readCursor() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read spool cursor: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		// A torn cursor only costs redelivery, which the collector dedups.
		s.m.corrupt.Inc()
		return 0, nil
	}
	return v, nil
}

// writeCursorLocked persists the delivered cursor. It is not fsynced: losing
// it means redelivering, and the collector stores each alert once.
func (s *spool) writeCursorLocked() error {
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	err := os.WriteFile(tmp, []byte(strconv.FormatUint(s.delivered, 10)+"\n"), 0o600)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, cursorFile))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write spool cursor: %w", err)
	}
	s.cursorAt = time.Now()
	return nil
}

// append adds payloads as records, filling segments up to SegmentBytes;
// those that do not fit under MaxBytes are dropped and counted. It returns
// how many were appended.
func (s *spool) append(payloads [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.appendLocked(payloads)
	if dropped := len(payloads) - n; dropped > 0 {
		reason := dropSpoolFull
		switch {
		case diskFull(err):
			reason = dropDiskFull
		case err != nil:
			reason = dropSpoolError
		}
		s.m.dropped.WithLabelValues(reason).Add(float64(dropped))
	}
	if n > 0 {
		s.m.spoolBytes.Set(float64(s.total))
		if s.opts.SyncEvery == 0 || time.Since(s.lastSync) >= s.opts.SyncEvery {
			err = errors.Join(err, s.syncLocked())
		}
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (s *spool) appendLocked(payloads [][]byte) (int, error) {
	n := 0
	for n < len(payloads) {
		if s.total+int64(recordHeaderBytes+len(payloads[n])) > s.opts.MaxBytes {
			return n, nil
		}
		if err := s.ensureActiveLocked(); err != nil {
			return n, err
		}
		seg := s.segs[len(s.segs)-1]
		var buf []byte
		k := 0
		for n+k < len(payloads) {
			size := int64(len(buf) + recordHeaderBytes + len(payloads[n+k]))
			if s.total+size > s.opts.MaxBytes || k > 0 && seg.size+size > s.opts.SegmentBytes {
				break
			}
			buf = appendRecord(buf, s.nextSeq+uint64(k), payloads[n+k])
			k++
		}
		if _, err := s.active.Write(buf); err != nil {
			// Leave the segment as it was so its records stay readable.
			s.active.Truncate(seg.size)
			if diskFull(err) && seg.size > 0 {
				// Appends go to a new segment from now on, so this one is
				// deleted, and its space given back, as soon as it is
				// delivered: otherwise it would stay the active segment
				// until it reached SegmentBytes, which a full disk never lets it.
				err = errors.Join(err, s.closeActiveLocked())
			}
			return n, fmt.Errorf("append to spool: %w", err)
		}
		seg.size += int64(len(buf))
		seg.last = s.nextSeq + uint64(k) - 1
		s.nextSeq += uint64(k)
		s.total += int64(len(buf))
		s.dirty = true
		n += k
	}
	return n, nil
}

// ensureActiveLocked opens a segment to append to, starting a new one when
// there is none or the current one is full.
func (s *spool) ensureActiveLocked() error {
	if s.active != nil && s.segs[len(s.segs)-1].size < s.opts.SegmentBytes {
		return nil
	}
	if s.active != nil {
		if err := s.closeActiveLocked(); err != nil {
			return err
		}
		s.deleteDeliveredLocked()
	}
	path := filepath.Join(s.dir, segmentName(s.nextSeq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.active = f
	s.segs = append(s.segs, &segment{first: s.nextSeq, last: s.nextSeq - 1, path: path})
	return nil
}

// closeActiveLocked syncs and closes the segment appended to; the next
// append starts a new one.
func (s *spool) closeActiveLocked() error {
	if err := s.syncLocked(); err != nil {
		return err
	}
	err := s.active.Close()
	s.active = nil
	if err != nil {
		return fmt.Errorf("close spool segment: %w", err)
	}
	return nil
}

// diskFull reports whether a write failed for want of space or quota.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open spool directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync spool directory: %w", err)
	}
	return nil
}

func (s *spool) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

func (s *spool) syncLocked() error {
	if !s.dirty || s.active == nil {
		return nil
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("sync spool segment: %w", err)
	}
	s.dirty = false
	s.lastSync = time.Now()
	return nil
}

// markDelivered records that every record up to seq was acknowledged, and
// deletes the segments that held only delivered records. The delivered
// cursor is only an optimisation (a stale one means redelivery, which the
// collector dedups), so failing to write it (a full disk) does not stop
// delivery: it is counted, and the error is returned only when writing it
// starts failing, for the caller to log once.
func (s *spool) markDelivered(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.delivered {
		return nil
	}
	s.delivered = seq
	removed := s.deleteDeliveredLocked()
	if !removed && time.Since(s.cursorAt) < 200*time.Millisecond {
		return nil
	}
	err := s.writeCursorLocked()
	if err == nil {
		s.cursorFailing = false
		return nil
	}
	s.m.cursorErrors.Inc()
	if s.cursorFailing {
		return nil
	}
	s.cursorFailing = true
	return err
}

func (s *spool) deleteDeliveredLocked() bool {
	removed := false
	for len(s.segs) > 0 {
		seg := s.segs[0]
		isActive := s.active != nil && len(s.segs) == 1
		if isActive || seg.last > s.delivered {
			break
		}
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			break // retried on the next delivery
		}
		s.total -= seg.size
		s.segs = s.segs[1:]
		removed = true
	}
	s.m.spoolBytes.Set(float64(s.total))
	return removed
}

// pending is the number of records not yet delivered.
func (s *spool) pending() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSeq - 1 - s.delivered
}

func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.syncLocked()
	if s.active != nil {
		err = errors.Join(err, s.active.Close())
		s.active = nil
	}
	return errors.Join(err, s.writeCursorLocked())
}
