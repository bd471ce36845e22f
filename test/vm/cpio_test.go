package vm

import (
	"bytes"
	"io/fs"
	"strconv"
	"testing"
)

// cpioEntry is one entry read back from a newc archive.
type cpioEntry struct {
	name string
	mode uint32
	data string
}

// readCPIO parses a newc archive up to its trailer, checking the format's
// alignment rules as it goes.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) int {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("header field %d at %d: %v", i, off, err)
		}
		return int(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at offset %d", off)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		nameStart := off + 110
		name := string(b[nameStart : nameStart+nameSize-1])
		if b[nameStart+nameSize-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		dataStart := align(nameStart + nameSize)
		if name == "TRAILER!!!" {
			if len(b)%4 != 0 {
				t.Fatalf("archive length %d not a multiple of 4", len(b))
			}
			return out
		}
		out = append(out, cpioEntry{name, uint32(mode), string(b[dataStart : dataStart+size])})
		off = align(dataStart + size)
	}
}

func TestCPIOWriterRoundTrip(t *testing.T) {
	write := func() []byte {
		var buf bytes.Buffer
		cw := newCPIOWriter(&buf)
		cw.Dir("bin", 0o755)
		cw.File("bin/busybox", 0o755, []byte("odd length"))
		cw.Symlink("bin/sh", "busybox")
		cw.File("init", fs.FileMode(0o700), []byte("#!/bin/sh\n"))
		cw.File("empty", 0o644, nil)
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	archive := write()
	got := readCPIO(t, archive)
	want := []cpioEntry{
		{"bin", 0o040755, ""},
		{"bin/busybox", 0o100755, "odd length"},
		{"bin/sh", 0o120777, "busybox"},
		{"init", 0o100700, "#!/bin/sh\n"},
		{"empty", 0o100644, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if !bytes.Equal(write(), archive) {
		t.Error("the same content gave different archives; the cache key would change")
	}
}
