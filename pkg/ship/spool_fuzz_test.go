package ship

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzSpoolTornWrite writes records, tears the segment (cut at any offset,
// then any bytes appended, as a crash mid-write or a bad disk leaves it) and
// reopens the spool: it must open, read back in order a prefix of what was
// written with no record changed, and take and read new records after it.
func FuzzSpoolTornWrite(f *testing.F) {
	f.Add(uint8(10), uint16(100), []byte{})
	f.Add(uint8(3), uint16(0), []byte{0xff, 0xff, 0, 0})
	f.Add(uint8(1), uint16(17), bytes.Repeat([]byte{0}, 40))
	f.Add(uint8(40), uint16(65535), []byte("garbage after a whole segment"))
	f.Fuzz(func(t *testing.T, n uint8, cut uint16, garbage []byte) {
		dir := t.TempDir()
		open := func() *spool {
			m, err := newShipMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			s, err := openSpool(dir, SpoolOptions{}, m)
			if err != nil {
				t.Fatalf("reopen after a torn write: %v", err)
			}
			return s
		}
		s := open()
		written := payloads(0, int(n))
		if _, err := s.append(written); err != nil {
			t.Fatal(err)
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		segs, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
		if err != nil {
			t.Fatal(err)
		}
		for _, seg := range segs {
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			data = append(data[:int(cut)%(len(data)+1)], garbage...)
			if err := os.WriteFile(seg, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}

		s = open()
		defer s.close()
		got := readSeqs(t, s)
		for i, rec := range got {
			if rec.seq != uint64(i+1) {
				t.Fatalf("record %d has sequence number %d", i, rec.seq)
			}
			// A record the garbage forged (a valid CRC) may follow what
			// was written; what was written comes back unchanged.
			if i < len(written) && !bytes.Equal(rec.payload, written[i]) {
				t.Fatalf("record %d reads %q, was %q", i, rec.payload, written[i])
			}
		}
		after := payloads(1000, 2)
		if _, err := s.append(after); err != nil {
			t.Fatal(err)
		}
		again := readSeqs(t, s)
		if len(again) != len(got)+2 || !bytes.Equal(again[len(again)-1].payload, after[1]) || again[len(again)-1].seq != uint64(len(got)+2) {
			t.Fatalf("after a torn write, %d records then 2 appended read back as %d", len(got), len(again))
		}
	})
}

// readSeqs reads every undelivered record.
func readSeqs(t *testing.T, s *spool) []record {
	t.Helper()
	r := s.newReader()
	defer r.closeFile()
	var out []record
	for {
		recs, err := r.read(64)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}
