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

// benchRecord is an open by a process five deep under pid 1, as a shell's
// loop on a node is.
func benchRecord() *enrich.Record {
	ev := &sensor.Event{Type: sensor.TypeOpen, Time: time.Now(), PID: 4242, TID: 4242, PPID: 4200, Comm: "nginx",
		CgroupID: 9876, MntNS: 4026531840}
	ev.Open = sensor.Open{Path: "/var/lib/app/data/segment-000123.log", Flags: 0, Ret: 3, Inode: sensor.Inode{Dev: 8 << 20, Ino: 1234}}
	return &enrich.Record{Event: ev, Ancestry: []process.Process{
		{PID: 4200, Comm: "bash", Path: "/usr/bin/bash"}, {PID: 4100, Comm: "bash", Path: "/usr/bin/bash"},
		{PID: 2833, Comm: "sshd", Path: "/usr/sbin/sshd"}, {PID: 2832, Comm: "sshd", Path: "/usr/sbin/sshd"},
		{PID: 1, Comm: "systemd", Path: "/usr/lib/systemd/systemd"}},
		Attribution: containers.Attribution{Kind: containers.Host}}
}

// BenchmarkJSONWriter writes the events of one process in a loop: its
// ancestry is the same for each, its time moves on.
func BenchmarkJSONWriter(b *testing.B) {
	w := NewJSONWriter(io.Discard)
	rec := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		rec.Event.Time = rec.Event.Time.Add(1500 * time.Nanosecond)
		if err := w.Write(rec); err != nil {
			b.Fatal(err)
		}
	}
}
