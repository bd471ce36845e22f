package trace

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// viaEncodingJSON is the reference the hand-written encoder must match.
func viaEncodingJSON(t testing.TB, r *enrich.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(ToJSON(r)); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return b.Bytes()
}

func requireSameEncoding(t testing.TB, r *enrich.Record) {
	t.Helper()
	var e jsonEncoder
	got := e.appendRecord(nil, r)
	if want := viaEncodingJSON(t, r); !bytes.Equal(got, want) {
		t.Fatalf("hand-written encoder differs from encoding/json\n got: %s\nwant: %s", got, want)
	}
	if !json.Valid(got) {
		t.Fatalf("not valid JSON: %s", got)
	}
}

// encoderCases covers every event type and every optional field both set and
// unset.
func encoderCases() map[string]enrich.Record {
	plus3 := time.FixedZone("plus3", 3*3600)
	base := sensor.Event{Time: time.Date(2026, 11, 27, 10, 4, 5, 123456789, time.UTC), PID: 10, TID: 11, PPID: 1,
		UID: 1000, EUID: 0, GID: 4294967295, Comm: "app", CgroupID: 1<<63 + 5, MntNS: 4026531840}
	ctr := &containers.Container{ID: "abc", ContainerName: "web", Image: "nginx:1", ImageDigest: "sha256:aa",
		PodName: "web-1", PodNamespace: "shop", PodUID: "u1", Namespace: "k8s.io"}
	bare := &containers.Container{ID: "def", Image: "busybox", ImageDigest: containers.UnknownDigest, Namespace: "default"}
	inContainer := containers.Attribution{Kind: containers.InContainer, Container: ctr}
	ancestry := []process.Process{{PID: 7, Comm: "sh", Path: "/bin/sh"}, {PID: 1, Comm: "init"}}

	ev := func(mutate func(*sensor.Event)) *sensor.Event {
		e := base
		mutate(&e)
		return &e
	}
	return map[string]enrich.Record{
		"exec, every flag, killed": {Event: ev(func(e *sensor.Event) {
			e.Type, e.Flags = sensor.TypeExec, sensor.FlagMemfd|sensor.FlagDeleted|sensor.FlagUpperLayer|
				sensor.FlagPathTruncated|sensor.FlagArgvTruncated|sensor.FlagPathDetached|sensor.FlagKilled
			e.Exec = sensor.Exec{Path: "/memfd:x (deleted)", Filename: "/proc/self/fd/3", Argv: []string{"x", "-c", `echo "hi" > /tmp/a & \`},
				Argc: 9, Inode: sensor.Inode{Dev: 259<<20 | 3, Ino: 1<<40 + 1}}
		}), Attribution: inContainer, Ancestry: ancestry},
		"exec without argv or flags": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeExec
			e.Exec = sensor.Exec{Path: "/bin/true", Filename: "true"}
		}), Attribution: containers.Attribution{Kind: containers.InContainer, Container: bare}},
		"open, denied, every path flag, zoned time": {Event: ev(func(e *sensor.Event) {
			e.Type, e.Time = sensor.TypeOpen, base.Time.In(plus3)
			e.Flags = sensor.FlagDenied | sensor.FlagPathTruncated | sensor.FlagPathUnresolved | sensor.FlagPathDetached | sensor.FlagCompatSyscall
			e.Open = sensor.Open{Path: "/etc/shadow", Flags: unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC | unix.O_APPEND |
				unix.O_EXCL | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_TMPFILE, Ret: -1}
		}), Attribution: inContainer},
		"open with no flag name (invalid access mode)": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeOpen
			e.Open = sensor.Open{Path: "/x", Flags: unix.O_ACCMODE, Ret: -22}
		}), Attribution: containers.Attribution{Kind: containers.Host}},
		"connect inet, whole second": {Event: ev(func(e *sensor.Event) {
			e.Type, e.Time = sensor.TypeConnect, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			e.Connect = sensor.Connect{Family: unix.AF_INET, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80,
				Protocol: unix.IPPROTO_TCP, SockType: unix.SOCK_STREAM}
		}), Attribution: containers.Attribution{Kind: containers.Unattributed, Reason: "resolve_failed"}},
		"connect inet6 with a zone, no port": {Event: ev(func(e *sensor.Event) {
			e.Type, e.Flags = sensor.TypeConnect, sensor.FlagCompatSyscall
			e.Connect = sensor.Connect{Family: unix.AF_INET6, Addr: netip.MustParseAddr("fe80::1%eth<0>"),
				Protocol: unix.IPPROTO_UDP, SockType: unix.SOCK_DGRAM, Ret: -111}
		}), Attribution: inContainer},
		"connect unix": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeConnect
			e.Connect = sensor.Connect{Family: unix.AF_UNIX, UnixPath: "/run/containerd/containerd.sock", SockType: unix.SOCK_STREAM}
		}), Attribution: containers.Attribution{Kind: containers.Host}},
		"connect, unknown family and protocol": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeConnect
			e.Connect = sensor.Connect{Family: 99, Protocol: 253, SockType: 77, Ret: -97}
		}), Attribution: containers.Attribution{Kind: containers.Host}},
		"capability granted": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeCapability
			e.Capability = sensor.Capability{Cap: 21}
		}), Attribution: inContainer, Ancestry: ancestry},
		"capability beyond the names": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeCapability
			e.Capability = sensor.Capability{Cap: 63, Ret: -1}
		}), Attribution: containers.Attribution{Kind: containers.Host}},
		"io_uring setup": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeIoUring
			e.IoUring = sensor.IoUring{Op: sensor.IoUringSetup}
		}), Attribution: inContainer},
		"io_uring opcode beyond the names": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeIoUring
			e.IoUring = sensor.IoUring{Op: 70, Repeats: 3}
		}), Attribution: containers.Attribution{Kind: containers.Host}},
		"fork": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeFork
			e.Fork = sensor.Fork{ChildPID: 12, ChildCgroupID: 8}
		}), Attribution: containers.Attribution{Kind: containers.Host}},
		"exit by signal": {Event: ev(func(e *sensor.Event) {
			e.Type = sensor.TypeExit
			e.Exit = sensor.Exit{Status: 9 | 0x80}
		}), Attribution: containers.Attribution{Kind: containers.Host}},
		"unknown type": {Event: ev(func(e *sensor.Event) { e.Type = 42 }),
			Attribution: containers.Attribution{Kind: containers.Host}},
	}
}

func TestEncoderMatchesEncodingJSON(t *testing.T) {
	for name, rec := range encoderCases() {
		t.Run(name, func(t *testing.T) { requireSameEncoding(t, &rec) })
	}
}

// FuzzEncoderStrings feeds arbitrary bytes (paths, argv and comm are bytes
// from the kernel, not text) through every string the encoder escapes.
func FuzzEncoderStrings(f *testing.F) {
	for _, seed := range []string{"", "plain/path", "quote\" back\\slash", "<script>&amp;", "\x00\x01\x1f\x7f\b\f\n\r\t",
		"\u2028\u2029", "é中🙂", "\xff\xfe bad utf-8 \xe2\x82", "\xed\xa0\x80 surrogate", "end\xf0\x9f\x99"} {
		f.Add(seed, seed)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		open := &sensor.Event{Type: sensor.TypeOpen, Comm: a, Open: sensor.Open{Path: b, Flags: unix.O_WRONLY}}
		requireSameEncoding(t, &enrich.Record{Event: open, Ancestry: []process.Process{{PID: 1, Comm: b, Path: a}},
			Attribution: containers.Attribution{Kind: containers.Unattributed, Reason: a}})
		exec := &sensor.Event{Type: sensor.TypeExec, Comm: b, Exec: sensor.Exec{Path: a, Filename: b, Argv: []string{a, b, ""}}}
		requireSameEncoding(t, &enrich.Record{Event: exec, Attribution: containers.Attribution{Kind: containers.InContainer,
			Container: &containers.Container{ID: a, ContainerName: b, Image: a, ImageDigest: b, PodName: a,
				PodNamespace: b, PodUID: a, Namespace: b}}})
		conn := &sensor.Event{Type: sensor.TypeConnect, Comm: a, Connect: sensor.Connect{Family: unix.AF_UNIX, UnixPath: b}}
		requireSameEncoding(t, &enrich.Record{Event: conn})
	})
}

// TestEncoderTimeMatchesRFC3339Nano holds the encoder's formatting, which
// reuses a second's text for the events within it, to time.RFC3339Nano's:
// across seconds, zones (one with an offset in seconds), fractions with
// and without trailing zeros, and back and forth between them.
func TestEncoderTimeMatchesRFC3339Nano(t *testing.T) {
	lmt, err := time.LoadLocation("Europe/Amsterdam") // +00:19:32 before 1937
	if err != nil {
		lmt = time.FixedZone("lmt", 19*60+32)
	}
	base := time.Date(2026, 12, 7, 23, 59, 59, 0, time.UTC)
	var times []time.Time
	for _, loc := range []*time.Location{time.UTC, time.Local, time.FixedZone("minus", -(9*3600 + 30*60)), lmt} {
		for _, d := range []time.Duration{0, 1, 10, 999_999_999, 120_000_000, 1_000_000_000, 1_000_000_001, -1, 500} {
			times = append(times, base.Add(d).In(loc), base.Add(d).In(loc), time.Date(1920, 5, 1, 0, 0, 0, int(d%1e9+1e9)%1e9, loc))
		}
	}
	var e jsonEncoder
	for _, tm := range times {
		if got, want := string(e.appendTime(nil, tm)), tm.Format(time.RFC3339Nano); got != want {
			t.Errorf("%v: got %s, want %s", tm, got, want)
		}
	}
}

// TestEncoderReusesAncestryOnlyWhenSame runs one encoder through events
// whose ancestry changes in each way it can (a process renamed or exec'd,
// a parent gone, pid reuse, another pid of the same slot), each line
// checked against encoding/json.
func TestEncoderReusesAncestryOnlyWhenSame(t *testing.T) {
	sh := process.Process{PID: 7, Comm: "sh", Path: "/bin/sh"}
	init := process.Process{PID: 1, Comm: "init", Path: "/sbin/init"}
	renamed, execd := sh, sh
	renamed.Comm, execd.Path = "worker", "/usr/bin/python3"
	steps := []struct {
		pid      uint32
		ancestry []process.Process
	}{
		{10, []process.Process{sh, init}},
		{10, []process.Process{sh, init}},
		{10, []process.Process{renamed, init}},
		{10, []process.Process{execd, init}},
		{10, []process.Process{{PID: 8, Comm: "sh", Path: "/bin/sh"}, init}},
		{10, []process.Process{init}},
		{10, nil},
		{10, []process.Process{sh, init}},
		{10 + ancestrySlots, []process.Process{init}},
		{10, []process.Process{sh, init}},
		{10, []process.Process{sh, init, init}},
	}
	var e jsonEncoder
	for i, s := range steps {
		r := &enrich.Record{Event: &sensor.Event{Type: sensor.TypeOpen, PID: s.pid, Open: sensor.Open{Path: "/x"}},
			Ancestry: s.ancestry, Attribution: containers.Attribution{Kind: containers.Host}}
		if got, want := e.appendRecord(nil, r), viaEncodingJSON(t, r); !bytes.Equal(got, want) {
			t.Fatalf("step %d: got %s\nwant %s", i, got, want)
		}
	}
}
