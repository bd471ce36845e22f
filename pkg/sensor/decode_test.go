package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// record encodes a fixed part and its trailing strings as the kernel would.
func record(t testing.TB, fixed any, tail ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := binary.Write(&b, binary.NativeEndian, fixed); err != nil {
		t.Fatal(err)
	}
	for _, s := range tail {
		b.WriteString(s)
	}
	return b.Bytes()
}

func header(typ Type, flags Flags) bpfobj.RecordEventHeader {
	h := bpfobj.RecordEventHeader{
		TimeNs: 1e9, CgroupId: 42, Type: uint32(typ), Flags: uint32(flags),
		Pid: 11, Tgid: 10, Ppid: 1, Uid: 1000, Euid: 0, Gid: 100, Mntns: 4026531840,
	}
	for i, c := range "bash" {
		h.Comm[i] = int8(c)
	}
	return h
}

func decodeOne(t *testing.T, raw []byte) Event {
	t.Helper()
	var ev Event
	if err := newDecoder().decode(raw, &ev); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return ev
}

func TestDecodeExec(t *testing.T) {
	path, filename, argv := "/usr/bin/true", "/bin/true", "true\x00--help\x00cut-sh"
	raw := record(t, bpfobj.RecordExecEvent{
		Hdr: header(TypeExec, FlagArgvTruncated|FlagUpperLayer), Ino: 7, Dev: 8<<20 | 1, Argc: 5,
		PathLen: uint16(len(path)), FilenameLen: uint16(len(filename)), ArgvLen: uint16(len(argv)),
	}, path, filename, argv)
	ev := decodeOne(t, raw)

	if ev.Type != TypeExec || ev.PID != 10 || ev.TID != 11 || ev.PPID != 1 || ev.Comm != "bash" || ev.CgroupID != 42 {
		t.Errorf("header = %+v", ev)
	}
	if ev.UID != 1000 || ev.EUID != 0 || ev.GID != 100 || ev.MntNS != 4026531840 {
		t.Errorf("credentials = uid %d euid %d gid %d mntns %d", ev.UID, ev.EUID, ev.GID, ev.MntNS)
	}
	if ev.Exec.Path != path || ev.Exec.Filename != filename || ev.Exec.Argc != 5 {
		t.Errorf("exec = %+v", ev.Exec)
	}
	if want := []string{"true", "--help", "cut-sh"}; !slices.Equal(ev.Exec.Argv, want) {
		t.Errorf("argv = %q, want %q", ev.Exec.Argv, want)
	}
	if ev.Exec.Inode.Major() != 8 || ev.Exec.Inode.Minor() != 1 || ev.Exec.Inode.Ino != 7 {
		t.Errorf("inode = %+v", ev.Exec.Inode)
	}
	if !ev.Flags.Has(FlagArgvTruncated|FlagUpperLayer) || ev.Flags.Has(FlagMemfd) {
		t.Errorf("flags = %b", ev.Flags)
	}

	dec := newDecoder()
	var first, again Event
	if dec.decode(raw, &first) != nil || dec.decode(raw, &again) != nil {
		t.Fatal("decode failed")
	}
	if unsafe.StringData(first.Exec.Path) != unsafe.StringData(again.Exec.Path) {
		t.Error("two execs of one file decoded to paths in different strings")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = dec.decode(raw, &again) }); allocs > 2 {
		t.Errorf("an exec decodes in %v allocations, want at most 2 (argv's string and slice)", allocs)
	}
}

func TestDecodeOpenPaths(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flags     Flags
		dir, path string
		want      string
	}{
		{"resolved", 0, "/etc/passwd", "", "/etc/passwd"},
		{"failed relative", FlagPathUnresolved, "/srv/app", "../data/./x", "/srv/data/x"},
		{"failed absolute", FlagPathUnresolved, "", "/etc//missing/../shadow", "/etc/shadow"},
		{"failed, directory unknown", FlagPathUnresolved, "", "relative/name", "relative/name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := record(t, bpfobj.RecordOpenEvent{
				Hdr: header(TypeOpen, tc.flags), Ret: -2, OpenFlags: unix.O_WRONLY | unix.O_CREAT,
				PathLen: uint16(len(tc.dir)), NameLen: uint16(len(tc.path)),
			}, tc.dir, tc.path)
			ev := decodeOne(t, raw)
			if ev.Open.Path != tc.want {
				t.Errorf("path = %q, want %q", ev.Open.Path, tc.want)
			}
			if ev.Open.Ret != -2 || !ev.Open.Flags.Write() || ev.Open.Flags.Read() {
				t.Errorf("open = %+v", ev.Open)
			}
			if got := ev.Open.Flags.Names(); !slices.Equal(got, []string{"write", "create"}) {
				t.Errorf("flag names = %q", got)
			}
		})
	}
}

// TestDecodeInternsOpenPaths decodes opens of one file into one string,
// allocated once, and keeps the interned paths bounded.
func TestDecodeInternsOpenPaths(t *testing.T) {
	dec := newDecoder()
	open := func(path string) string {
		var ev Event
		raw := record(t, bpfobj.RecordOpenEvent{Hdr: header(TypeOpen, 0), Ret: 3, PathLen: uint16(len(path))}, path)
		if err := dec.decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
		return ev.Open.Path
	}
	first, again := open("/etc/app.conf"), open("/etc/app.conf")
	if first != "/etc/app.conf" || unsafe.StringData(first) != unsafe.StringData(again) {
		t.Errorf("two opens of one file decoded to %q and %q in different strings", first, again)
	}
	long := strings.Repeat("d/", 1000)
	for i := range 2 * maxInternedPathBytes / len(long) {
		if p := open(fmt.Sprintf("/%s%d", long, i)); !strings.HasSuffix(p, "/"+strconv.Itoa(i)) {
			t.Fatalf("decoded %q", p[len(p)-10:])
		}
	}
	if dec.pathBytes > maxInternedPathBytes {
		t.Errorf("%d bytes of interned paths, bound %d", dec.pathBytes, maxInternedPathBytes)
	}
}

func TestDecodeConnect(t *testing.T) {
	v4 := bpfobj.RecordConnectEvent{Hdr: header(TypeConnect, 0), Family: unix.AF_INET, Port: 443,
		Protocol: unix.IPPROTO_TCP, SockType: unix.SOCK_STREAM, Ret: -int32(unix.EINPROGRESS), Repeats: 6}
	copy(v4.Addr[:], []byte{10, 0, 0, 1})
	v6 := bpfobj.RecordConnectEvent{Hdr: header(TypeConnect, 0), Family: unix.AF_INET6, Port: 53,
		Protocol: unix.IPPROTO_UDP, SockType: unix.SOCK_DGRAM}
	v6.Addr[15] = 1
	sock := "/run/app.sock\x00\x00"
	abstract := "\x00app\x00"
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"inet", record(t, v4), "inet 10.0.0.1:443 tcp stream -115 +6"},
		{"inet6", record(t, v6), "inet6 ::1:53 udp dgram 0 +0"},
		{"unix path", record(t, bpfobj.RecordConnectEvent{Hdr: header(TypeConnect, 0), Family: unix.AF_UNIX,
			PathLen: uint16(len(sock))}, sock), "unix /run/app.sock"},
		{"unix abstract", record(t, bpfobj.RecordConnectEvent{Hdr: header(TypeConnect, 0), Family: unix.AF_UNIX,
			PathLen: uint16(len(abstract))}, abstract), "unix @app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := decodeOne(t, tc.raw).Connect
			var got string
			if c.Family == unix.AF_UNIX {
				got = c.Family.String() + " " + c.UnixPath
			} else {
				got = c.Family.String() + " " + c.Addr.String() + ":" + strconv.Itoa(int(c.Port)) + " " +
					c.Protocol.String() + " " + c.SockType.String() + " " + strconv.Itoa(int(c.Ret)) +
					" +" + strconv.Itoa(int(c.Repeats))
			}
			if got != tc.want {
				t.Errorf("connect = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeCapabilityForkExit(t *testing.T) {
	ev := decodeOne(t, record(t, bpfobj.RecordCapabilityEvent{Hdr: header(TypeCapability, 0), Cap: 21, Ret: -1, Repeats: 4}))
	if ev.Capability.Name() != "CAP_SYS_ADMIN" || ev.Capability.Granted() || ev.Capability.Repeats != 4 {
		t.Errorf("capability = %+v", ev.Capability)
	}
	ev = decodeOne(t, record(t, bpfobj.RecordIoUringEvent{Hdr: header(TypeIoUring, 0), Op: uint32(IoUringSetup), Repeats: 2}))
	if ev.IoUring != (IoUring{Op: IoUringSetup, Repeats: 2}) {
		t.Errorf("io_uring = %+v", ev.IoUring)
	}
	ev = decodeOne(t, record(t, bpfobj.RecordForkEvent{Hdr: header(TypeFork, 0), ChildTgid: 99, ChildCgroupId: 7}))
	if ev.Fork.ChildPID != 99 || ev.Fork.ChildCgroupID != 7 {
		t.Errorf("fork = %+v", ev.Fork)
	}
	ev = decodeOne(t, record(t, bpfobj.RecordExitEvent{Hdr: header(TypeExit, 0), ExitCode: 3 << 8}))
	if ev.Exit.Code() != 3 || ev.Exit.Signal() != 0 {
		t.Errorf("exit = %+v", ev.Exit)
	}
	ev = decodeOne(t, record(t, bpfobj.RecordExitEvent{Hdr: header(TypeExit, 0), ExitCode: 9}))
	if ev.Exit.Signal() != 9 {
		t.Errorf("killed exit = %+v", ev.Exit)
	}
}

func TestDecodeRejectsMalformedRecords(t *testing.T) {
	exec := record(t, bpfobj.RecordExecEvent{Hdr: header(TypeExec, 0), PathLen: 100}, "/short")
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"short header", make([]byte, 10)},
		{"unknown type", record(t, bpfobj.RecordCapabilityEvent{Hdr: header(Type(0), 0)})},
		{"type beyond the enum", record(t, bpfobj.RecordCapabilityEvent{Hdr: bpfobj.RecordEventHeader{Type: 257}})},
		{"short fixed part", record(t, header(TypeOpen, 0))},
		{"strings longer than the record", exec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev Event
			if err := newDecoder().decode(tc.raw, &ev); !errors.Is(err, ErrMalformed) {
				t.Errorf("decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func unsafeBytes(words []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
}

func FuzzDecode(f *testing.F) {
	f.Add(record(f, bpfobj.RecordExecEvent{Hdr: header(TypeExec, 0), PathLen: 2, ArgvLen: 3}, "/x", "a\x00b"))
	f.Add(record(f, bpfobj.RecordOpenEvent{Hdr: header(TypeOpen, FlagPathUnresolved), PathLen: 1, NameLen: 2}, "/", ".."))
	f.Add(record(f, bpfobj.RecordConnectEvent{Hdr: header(TypeConnect, 0), Family: unix.AF_UNIX, PathLen: 1}, "\x00"))
	dec := newDecoder()
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev Event
		// Copy into an 8-aligned buffer, as the ring-buffer reader provides.
		buf := make([]uint64, len(raw)/8+1)
		b := unsafeBytes(buf)[:len(raw)]
		copy(b, raw)
		_ = dec.decode(b, &ev)
	})
}
