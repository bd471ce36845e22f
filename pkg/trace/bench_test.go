package trace

import (
	"io"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

func benchRecord() *enrich.Record {
	ev := &sensor.Event{Type: sensor.TypeOpen, Time: time.Now(), PID: 4242, TID: 4242, PPID: 1, Comm: "nginx",
		CgroupID: 9876, MntNS: 4026531840}
	ev.Open = sensor.Open{Path: "/var/lib/app/data/segment-000123.log", Flags: 0, Ret: 3, Inode: sensor.Inode{Dev: 8 << 20, Ino: 1234}}
	return &enrich.Record{Event: ev, Ancestry: []process.Process{{PID: 1, Comm: "systemd", Path: "/usr/lib/systemd/systemd"}},
		Attribution: containers.Attribution{Kind: containers.Host}}
}

func BenchmarkJSONWriter(b *testing.B) {
	w := NewJSONWriter(io.Discard)
	rec := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(rec); err != nil {
			b.Fatal(err)
		}
	}
}
