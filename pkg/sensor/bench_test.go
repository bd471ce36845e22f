package sensor

import (
	"testing"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

func BenchmarkDecodeOpen(b *testing.B) {
	path := "/var/lib/app/data/segment-000123.log"
	raw := record(b, bpfobj.RecordOpenEvent{Hdr: header(TypeOpen, 0), Ret: 3, PathLen: uint16(len(path))}, path)
	dec := newDecoder()
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		if err := dec.decode(raw, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeExec(b *testing.B) {
	path, argv := "/usr/bin/python3", "python3\x00-m\x00http.server\x008080\x00"
	raw := record(b, bpfobj.RecordExecEvent{Hdr: header(TypeExec, 0), PathLen: uint16(len(path)),
		FilenameLen: uint16(len(path)), ArgvLen: uint16(len(argv))}, path, path, argv)
	dec := newDecoder()
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		if err := dec.decode(raw, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
