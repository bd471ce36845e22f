package trace

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

func TestJSONSchemaPerType(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	base := sensor.Event{Time: at, PID: 10, TID: 11, PPID: 1, UID: 1000, Comm: "app", CgroupID: 7, MntNS: 99}
	ctr := &containers.Container{ID: "abc", ContainerName: "web", Image: "nginx:1", ImageDigest: "sha256:aa",
		PodName: "web-1", PodNamespace: "shop", PodUID: "u1", Namespace: "k8s.io"}

	exec := base
	exec.Type, exec.Flags = sensor.TypeExec, sensor.FlagMemfd|sensor.FlagArgvTruncated
	exec.Exec = sensor.Exec{Path: "/memfd:x", Filename: "/proc/self/fd/3", Argv: []string{"x", "-v"}, Argc: 9,
		Inode: sensor.Inode{Dev: 8<<20 | 1, Ino: 5}}
	open := base
	open.Type, open.Flags = sensor.TypeOpen, sensor.FlagPathUnresolved
	open.Open = sensor.Open{Path: "/etc/missing", Flags: unix.O_RDWR | unix.O_CREAT, Ret: -2}
	conn := base
	conn.Type = sensor.TypeConnect
	conn.Connect = sensor.Connect{Family: unix.AF_INET6, Addr: netip.MustParseAddr("::1"), Port: 443,
		Protocol: unix.IPPROTO_TCP, SockType: unix.SOCK_STREAM, Ret: -115}
	capab := base
	capab.Type = sensor.TypeCapability
	capab.Capability = sensor.Capability{Cap: 13, Ret: -1}
	ring := base
	ring.Type, ring.Flags = sensor.TypeIoUring, sensor.FlagKilled
	ring.IoUring = sensor.IoUring{Op: 18}

	for _, tc := range []struct {
		name string
		rec  enrich.Record
		want []string // fragments of the JSON line
	}{
		{"exec in a container", enrich.Record{Event: &exec, Attribution: containers.Attribution{Kind: containers.InContainer, Container: ctr},
			Ancestry: []process.Process{{PID: 1, Comm: "init", Path: "/sbin/init"}}},
			[]string{`"type":"exec"`, `"pid":10`, `"tid":11`, `"time":"2026-11-27T10:00:00Z"`,
				`"ancestry":[{"pid":1,"comm":"init","path":"/sbin/init"}]`, `"attribution":"container"`,
				`"container":{"id":"abc","name":"web","image":"nginx:1","image_digest":"sha256:aa","pod":"web-1","namespace":"shop","pod_uid":"u1","containerd_namespace":"k8s.io"}`,
				`"exec":{"path":"/memfd:x","filename":"/proc/self/fd/3","argv":["x","-v"],"argc":9,"inode":{"dev":"8:1","ino":5},"flags":["memfd","argv_truncated"]}`}},
		{"failed open on the host", enrich.Record{Event: &open, Attribution: containers.Attribution{Kind: containers.Host}},
			[]string{`"attribution":"host"`, `"open":{"path":"/etc/missing","flags":["read","write","create"],"ret":-2,"inode":{"dev":"0:0","ino":0},"path_unresolved":true}`}},
		{"unattributed connect", enrich.Record{Event: &conn, Attribution: containers.Attribution{Kind: containers.Unattributed, Reason: "unresolved"}},
			[]string{`"attribution":"unattributed"`, `"attribution_reason":"unresolved"`,
				`"connect":{"family":"inet6","address":"::1","port":443,"protocol":"tcp","sock_type":"stream","ret":-115}`}},
		{"refused capability", enrich.Record{Event: &capab, Attribution: containers.Attribution{Kind: containers.Host}},
			[]string{`"capability":{"cap":13,"name":"CAP_NET_RAW","granted":false}`, `"ancestry":[]`}},
		{"killed io_uring openat", enrich.Record{Event: &ring, Attribution: containers.Attribution{Kind: containers.Host}},
			[]string{`"type":"io_uring"`, `"enforcement":"killed"`, `"io_uring":{"op":18,"name":"OPENAT"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w := NewJSONWriter(&b)
			if err := w.Write(&tc.rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			line := b.String()
			if !json.Valid(b.Bytes()) || strings.Count(line, "\n") != 1 {
				t.Fatalf("not one JSON line: %q", line)
			}
			for _, frag := range tc.want {
				if !strings.Contains(line, frag) {
					t.Errorf("line lacks %s\n%s", frag, line)
				}
			}
			if tc.rec.Attribution.Container == nil && strings.Contains(line, `"container":`) {
				t.Errorf("a record outside containers has a container object: %s", line)
			}
		})
	}
}

func TestTableWriter(t *testing.T) {
	ev := sensor.Event{Type: sensor.TypeExec, Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), PID: 10, PPID: 1, Comm: "sh"}
	ev.Exec = sensor.Exec{Path: "/bin/ls", Argv: []string{"ls", "-l"}}
	var b bytes.Buffer
	w := NewTableWriter(&b)
	rec := enrich.Record{Event: &ev, Attribution: containers.Attribution{Kind: containers.InContainer,
		Container: &containers.Container{ID: "0123456789abcdef"}}}
	if err := w.Write(&rec); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("want a header and a line, got %q", b.String())
	}
	for _, want := range []string{"10:00:00.000", "exec", "sh", "0123456789ab ", "/bin/ls -l"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("line %q lacks %q", lines[1], want)
		}
	}
}

// TestTableWriterEscapes traces a process that names itself and its
// arguments with control characters: the table shows them escaped.
func TestTableWriterEscapes(t *testing.T) {
	ev := sensor.Event{Type: sensor.TypeExec, Time: time.Now(), PID: 10, PPID: 1, Comm: "x\x1b]0;pwned\a"}
	ev.Exec = sensor.Exec{Path: "/tmp/\x1b[2K\r", Argv: []string{"x", "\x00\x7f\u009b"}}
	var b bytes.Buffer
	w := NewTableWriter(&b)
	if err := w.Write(&enrich.Record{Event: &ev}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if raw := testutil.TerminalControls(b.String()); raw != nil {
		t.Errorf("table holds %q raw:\n%s", raw, b.String())
	}
	for _, want := range []string{`x\x1b]0;pwned\a`, `/tmp/\x1b[2K\r \x00\x7f\u009b`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %s:\n%s", want, b.String())
		}
	}
}
