package ship

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// spoolReader reads records in order, from the first undelivered one.
type spoolReader struct {
	s     *spool
	next  uint64 // next sequence number wanted
	first uint64 // first sequence number of the open segment
	f     *os.File
	off   int64
	buf   []byte
}

// newReader starts after the delivered cursor.
func (s *spool) newReader() *spoolReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &spoolReader{s: s, next: s.delivered + 1}
}

// read returns up to max records available now (none when caught up).
func (r *spoolReader) read(limit int) ([]record, error) {
	var out []record
	for len(out) < limit {
		seg, isLast := r.s.segmentFor(r.next)
		if seg == nil {
			// Every segment was delivered and deleted: let go of the last
			// one, whose space a full disk is waiting for.
			r.closeFile()
			return out, nil
		}
		if r.f == nil || r.first != seg.first {
			if err := r.open(seg); err != nil {
				return out, err
			}
		}
		if r.off >= seg.size {
			if isLast {
				return out, nil
			}
			r.next = max(r.next, seg.last+1)
			r.closeFile()
			continue
		}
		want := min(seg.size-r.off, 1<<20)
		if int64(cap(r.buf)) < want {
			r.buf = make([]byte, want)
		}
		buf := r.buf[:want]
		if _, err := r.f.ReadAt(buf, r.off); err != nil && !errors.Is(err, io.EOF) {
			return out, fmt.Errorf("read spool segment: %w", err)
		}
		for len(buf) > 0 && len(out) < limit {
			rec, n, err := decodeRecord(buf)
			if errors.Is(err, errShortRecord) {
				break // the rest is in the next read
			}
			if err != nil {
				return out, fmt.Errorf("spool segment %s at %d: %w", seg.path, r.off, err)
			}
			buf = buf[n:]
			r.off += int64(n)
			if rec.seq < r.next {
				continue
			}
			r.next = rec.seq + 1
			out = append(out, record{seq: rec.seq, payload: slices.Clone(rec.payload)})
		}
	}
	return out, nil
}

func (r *spoolReader) open(seg *segment) error {
	r.closeFile()
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("open spool segment: %w", err)
	}
	r.f, r.first, r.off = f, seg.first, 0
	return nil
}

func (r *spoolReader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// segmentFor finds the segment holding seq, or the first one after it;
// isLast says whether that is the newest segment.
func (s *spool) segmentFor(seq uint64) (seg *segment, isLast bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, g := range s.segs {
		if g.last >= seq || i == len(s.segs)-1 {
			cp := *g
			return &cp, i == len(s.segs)-1
		}
	}
	return nil, false
}
