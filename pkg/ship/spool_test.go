package ship

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testSpool(t *testing.T, dir string, o SpoolOptions) (*spool, *shipMetrics) {
	t.Helper()
	m, err := newShipMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, err := openSpool(dir, o, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })
	return s, m
}

func payloads(from, n int) [][]byte {
	var out [][]byte
	for i := from; i < from+n; i++ {
		out = append(out, []byte(fmt.Sprintf("alert-%04d", i)))
	}
	return out
}

func readAll(t *testing.T, s *spool) []string {
	t.Helper()
	r := s.newReader()
	defer r.closeFile()
	var out []string
	for {
		recs, err := r.read(7) // an odd size, to cross segment ends mid-read
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, rec := range recs {
			out = append(out, string(rec.payload))
		}
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpoolDeliversInOrderAcrossSegmentsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSpool(t, dir, SpoolOptions{SegmentBytes: 200, MaxBytes: 1 << 20})
	for i := 0; i < 100; i += 10 {
		if n, err := s.append(payloads(i, 10)); err != nil || n != 10 {
			t.Fatalf("append: %d %v", n, err)
		}
	}
	want := func(from, n int) []string {
		var out []string
		for _, p := range payloads(from, n) {
			out = append(out, string(p))
		}
		return out
	}
	if got := readAll(t, s); !slices.Equal(got, want(0, 100)) {
		t.Fatalf("read %v", got)
	}
	before := len(segments(t, dir))
	if err := s.markDelivered(60); err != nil {
		t.Fatal(err)
	}
	if after := len(segments(t, dir)); after >= before {
		t.Fatalf("delivering 60 of 100 records left %d of %d segments", after, before)
	}
	if got := readAll(t, s); !slices.Equal(got, want(60, 40)) {
		t.Fatalf("after delivery of 60, read %v", got)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	s2, _ := testSpool(t, dir, SpoolOptions{SegmentBytes: 200, MaxBytes: 1 << 20})
	if got := readAll(t, s2); !slices.Equal(got, want(60, 40)) {
		t.Fatalf("after reopen, read %v", got)
	}
	if p := s2.pending(); p != 40 {
		t.Fatalf("pending %d, want 40", p)
	}
	s2.append(payloads(100, 1))
	if got := readAll(t, s2); len(got) != 41 || got[40] != "alert-0100" {
		t.Fatalf("append after reopen: read %v", got)
	}
	s2.markDelivered(101)
	if p := s2.pending(); p != 0 {
		t.Fatalf("pending %d after delivering everything", p)
	}
}

func TestSpoolTornTailIsCutAndCounted(t *testing.T) {
	for name, damage := range map[string]func(path string) error{
		"cut mid-record": func(path string) error {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			return os.Truncate(path, fi.Size()-5)
		},
		"garbage appended": func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte{0xff, 0xff, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
			return err
		},
		"last record flipped": func(path string) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b[len(b)-1] ^= 0x40
			return os.WriteFile(path, b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := testSpool(t, dir, SpoolOptions{})
			s.append(payloads(0, 10))
			s.close()
			segs := segments(t, dir)
			if len(segs) != 1 {
				t.Fatalf("%d segments", len(segs))
			}
			if err := damage(segs[0]); err != nil {
				t.Fatal(err)
			}
			s2, m := testSpool(t, dir, SpoolOptions{})
			got := readAll(t, s2)
			wantN := 9
			if name == "garbage appended" {
				wantN = 10
			}
			if len(got) != wantN {
				t.Fatalf("kept %d records, want %d", len(got), wantN)
			}
			if n := testutil.ToFloat64(m.corrupt); n != 1 {
				t.Fatalf("corrupt tails counted: %v, want 1", n)
			}
			// Appending after recovery works and is read back in order.
			s2.append(payloads(50, 2))
			got = readAll(t, s2)
			if len(got) != wantN+2 || got[len(got)-1] != "alert-0051" {
				t.Fatalf("after recovery read %v", got)
			}
		})
	}
}

func TestSpoolFullDropsNewestAndCounts(t *testing.T) {
	dir := t.TempDir()
	rec := int64(recordHeaderBytes + len("alert-0000"))
	s, m := testSpool(t, dir, SpoolOptions{SegmentBytes: 4 * rec, MaxBytes: 20 * rec})
	n, err := s.append(payloads(0, 25))
	if err != nil || n != 20 {
		t.Fatalf("appended %d (%v), want 20 of 25", n, err)
	}
	if d := testutil.ToFloat64(m.dropped.WithLabelValues(dropSpoolFull)); d != 5 {
		t.Fatalf("spool_full drops %v, want 5", d)
	}
	got := readAll(t, s)
	if got[0] != "alert-0000" || got[19] != "alert-0019" {
		t.Fatalf("kept %v: the oldest must be kept", got)
	}
	// Delivering frees whole segments, and there is room again.
	if err := s.markDelivered(12); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.append(payloads(100, 8)); n < 8 {
		t.Fatalf("after delivering 12 records only %d of 8 fit", n)
	}
}

// TestSpoolFilesArePrivate: the spool holds alerts; its directory is 0700
// and its files 0600 whatever the umask, even when the directory was made
// before, more open.
func TestSpoolFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, _ := testSpool(t, dir, SpoolOptions{})
	s.append(payloads(0, 3))
	if err := s.markDelivered(1); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{dir: 0o700 | os.ModeDir}
	for _, e := range entries {
		modes[filepath.Join(dir, e.Name())] = 0o600
	}
	if len(modes) < 3 {
		t.Fatalf("spool holds %d files, want a segment and the cursor", len(modes)-1)
	}
	for name, want := range modes {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s is %v, want %v", filepath.Base(name), fi.Mode(), want)
		}
	}
}
