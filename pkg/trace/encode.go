package trace

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// jsonEncoder writes a record in the schema JSON directly from the record:
// the bytes encoding/json writes for ToJSON(r), without its reflection and
// its half-dozen allocations per event, which made the encoding the largest
// cost of `trace --json` at a high event rate. TestEncoderMatchesEncodingJSON
// and FuzzEncoderStrings hold the two byte for byte equal.
type jsonEncoder struct {
	names      []string // reused for flag names
	addr       []byte   // reused for a connect's address
	ancestries [ancestrySlots]encodedAncestry
	second     encodedSecond
}

// encodedSecond is the second of the last event's time, formatted: the
// events of a second share all of their time's text but its fraction.
type encodedSecond struct {
	unix   int64
	loc    *time.Location
	prefix []byte // 2006-01-02T15:04:05
	zone   []byte // Z07:00
}

// appendTime appends t as time.RFC3339Nano does, formatting its second only
// when it differs from the last one's.
func (e *jsonEncoder) appendTime(b []byte, t time.Time) []byte {
	s := &e.second
	if sec := t.Unix(); sec != s.unix || t.Location() != s.loc || s.prefix == nil {
		s.unix, s.loc = sec, t.Location()
		s.prefix = t.AppendFormat(s.prefix[:0], "2006-01-02T15:04:05")
		s.zone = t.AppendFormat(s.zone[:0], "Z07:00")
	}
	b = append(b, s.prefix...)
	if ns := t.Nanosecond(); ns != 0 {
		// Nine digits, then the trailing zeros trimmed, as .999999999 does.
		b = append(b, '.')
		start := len(b)
		b = append(b, "000000000"...)
		for i := len(b) - 1; ns > 0; i-- {
			b[i] = byte('0' + ns%10)
			ns /= 10
		}
		end := len(b)
		for end > start && b[end-1] == '0' {
			end--
		}
		b = b[:end]
	}
	return append(b, s.zone...)
}

// ancestrySlots is how many processes' ancestries the encoder keeps
// encoded, by pid modulo: a loop's process has the same ancestry event
// after event, and it was most of each line's bytes.
const ancestrySlots = 64

// encodedAncestry is an ancestry as encoded last for a process: its items,
// without the brackets, and the fields they were encoded from.
type encodedAncestry struct {
	pid   uint32
	chain []ancestor
	json  []byte
}

// ancestor is what the schema writes of an ancestry's process.
type ancestor struct {
	pid        uint32
	comm, path string
}

// matches reports whether a was encoded from pid's ancestry chain. Equal
// strings are compared by pointer first: the process table's, unchanged,
// cost a comparison each.
func (a *encodedAncestry) matches(pid uint32, chain []process.Process) bool {
	if a.pid != pid || len(a.chain) != len(chain) {
		return false
	}
	for i, p := range chain {
		if c := &a.chain[i]; c.pid != p.PID || c.comm != p.Comm || c.path != p.Path {
			return false
		}
	}
	return true
}

// appendAncestry appends the items of r's ancestry, from the slot of its
// process when that holds them, else encoded and kept there.
func (e *jsonEncoder) appendAncestry(b []byte, r *enrich.Record) []byte {
	if len(r.Ancestry) == 0 {
		return b
	}
	pid := r.Event.PID
	slot := &e.ancestries[pid%ancestrySlots]
	if slot.matches(pid, r.Ancestry) {
		return append(b, slot.json...)
	}
	start := len(b)
	for i, p := range r.Ancestry {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendUintField(b, `{"pid":`, uint64(p.PID))
		b = appendStringField(b, `,"comm":`, p.Comm)
		b = appendOptionalString(b, `,"path":`, p.Path)
		b = append(b, '}')
	}
	slot.pid = pid
	slot.chain = slot.chain[:0]
	for _, p := range r.Ancestry {
		slot.chain = append(slot.chain, ancestor{pid: p.PID, comm: p.Comm, path: p.Path})
	}
	slot.json = append(slot.json[:0], b[start:]...)
	return b
}

// appendRecord appends r as one line of JSON, newline included.
func (e *jsonEncoder) appendRecord(b []byte, r *enrich.Record) []byte {
	ev := r.Event
	b = append(b, `{"type":`...)
	b = appendString(b, ev.Type.String())
	b = append(b, `,"time":"`...)
	b = e.appendTime(b, ev.Time)
	b = appendUintField(b, `","pid":`, uint64(ev.PID))
	b = appendUintField(b, `,"tid":`, uint64(ev.TID))
	b = appendUintField(b, `,"ppid":`, uint64(ev.PPID))
	b = appendUintField(b, `,"uid":`, uint64(ev.UID))
	b = appendUintField(b, `,"euid":`, uint64(ev.EUID))
	b = appendUintField(b, `,"gid":`, uint64(ev.GID))
	b = appendStringField(b, `,"comm":`, ev.Comm)
	b = appendUintField(b, `,"cgroup_id":`, ev.CgroupID)
	b = appendUintField(b, `,"mntns":`, uint64(ev.MntNS))
	b = e.appendAncestry(append(b, `,"ancestry":[`...), r)
	b = appendStringField(b, `],"attribution":`, r.Attribution.Kind.String())
	b = appendOptionalString(b, `,"attribution_reason":`, r.Attribution.Reason)
	switch r.Enforcement() {
	case enrich.Killed:
		b = append(b, `,"enforcement":"killed"`...)
	case enrich.Denied:
		b = append(b, `,"enforcement":"denied"`...)
	}
	if c := r.Attribution.Container; c != nil {
		b = appendStringField(b, `,"container":{"id":`, c.ID)
		b = appendOptionalString(b, `,"name":`, c.ContainerName)
		b = appendStringField(b, `,"image":`, c.Image)
		b = appendStringField(b, `,"image_digest":`, c.ImageDigest)
		b = appendOptionalString(b, `,"pod":`, c.PodName)
		b = appendOptionalString(b, `,"namespace":`, c.PodNamespace)
		b = appendOptionalString(b, `,"pod_uid":`, c.PodUID)
		b = appendStringField(b, `,"containerd_namespace":`, c.Namespace)
		b = append(b, '}')
	}
	switch ev.Type {
	case sensor.TypeExec:
		b = e.appendExec(b, r)
	case sensor.TypeOpen:
		b = e.appendOpen(b, r)
	case sensor.TypeConnect:
		b = e.appendConnect(b, r)
	case sensor.TypeCapability:
		b = appendIntField(b, `,"capability":{"cap":`, int64(ev.Capability.Cap))
		b = appendStringField(b, `,"name":`, ev.Capability.Name())
		b = appendBoolField(b, `,"granted":`, ev.Capability.Granted())
		b = append(b, '}')
	case sensor.TypeIoUring:
		b = appendUintField(b, `,"io_uring":{"op":`, uint64(ev.IoUring.Op))
		b = appendStringField(b, `,"name":`, profile.IoUringOp(ev.IoUring.Op).String())
		b = append(b, '}')
	case sensor.TypeFork:
		b = appendUintField(b, `,"fork":{"child_pid":`, uint64(ev.Fork.ChildPID))
		b = appendUintField(b, `,"child_cgroup_id":`, ev.Fork.ChildCgroupID)
		b = append(b, '}')
	case sensor.TypeExit:
		b = appendIntField(b, `,"exit":{"code":`, int64(ev.Exit.Code()))
		b = appendIntField(b, `,"signal":`, int64(ev.Exit.Signal()))
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

func (e *jsonEncoder) appendExec(b []byte, r *enrich.Record) []byte {
	x := &r.Event.Exec
	b = appendStringField(b, `,"exec":{"path":`, x.Path)
	b = appendStringField(b, `,"filename":`, x.Filename)
	if x.Argv == nil {
		b = append(b, `,"argv":null`...)
	} else {
		b = appendStrings(append(b, `,"argv":`...), x.Argv)
	}
	b = appendUintField(b, `,"argc":`, uint64(x.Argc))
	b = appendInode(b, x.Inode)
	e.names = r.AppendExecFlags(e.names[:0]) // [] when none, as ExecFlags
	b = appendStrings(append(b, `,"flags":`...), e.names)
	return append(b, '}')
}

func (e *jsonEncoder) appendOpen(b []byte, r *enrich.Record) []byte {
	ev := r.Event
	o := &ev.Open
	b = appendStringField(b, `,"open":{"path":`, o.Path)
	// Names gives nil for no flag at all, which encoding/json writes as null.
	if e.names = o.Flags.AppendNames(e.names[:0]); len(e.names) == 0 {
		b = append(b, `,"flags":null`...)
	} else {
		b = appendStrings(append(b, `,"flags":`...), e.names)
	}
	b = appendIntField(b, `,"ret":`, int64(o.Ret))
	b = appendInode(b, o.Inode)
	b = appendTrueField(b, `,"path_truncated":true`, r.PathTruncated())
	b = appendTrueField(b, `,"path_unresolved":true`, r.PathUnresolved())
	b = appendTrueField(b, `,"path_detached":true`, r.PathDetached())
	b = appendTrueField(b, `,"compat_syscall":true`, r.CompatSyscall())
	return append(b, '}')
}

func (e *jsonEncoder) appendConnect(b []byte, r *enrich.Record) []byte {
	c := &r.Event.Connect
	b = appendStringField(b, `,"connect":{"family":`, c.Family.String())
	if c.Addr.IsValid() {
		e.addr = c.Addr.AppendTo(e.addr[:0])
		b = appendString(append(b, `,"address":`...), e.addr)
	}
	if c.Port != 0 {
		b = appendUintField(b, `,"port":`, uint64(c.Port))
	}
	b = appendOptionalString(b, `,"unix_path":`, c.UnixPath)
	b = appendOptionalString(b, `,"protocol":`, c.Protocol.String())
	b = appendOptionalString(b, `,"sock_type":`, c.SockType.String())
	b = appendIntField(b, `,"ret":`, int64(c.Ret))
	b = appendTrueField(b, `,"compat_syscall":true`, r.CompatSyscall())
	return append(b, '}')
}

func appendInode(b []byte, i sensor.Inode) []byte {
	b = append(b, `,"inode":{"dev":"`...)
	b = strconv.AppendUint(b, uint64(i.Major()), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(i.Minor()), 10)
	b = appendUintField(b, `","ino":`, i.Ino)
	return append(b, '}')
}

// appendStrings writes a JSON array; the callers write null where
// encoding/json would, for a nil slice.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// The field helpers take the field's key with its leading punctuation, so
// that each field is one append of a constant and one of its value.

func appendUintField(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(append(b, key...), v, 10)
}

func appendIntField(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

func appendBoolField(b []byte, key string, v bool) []byte {
	return strconv.AppendBool(append(b, key...), v)
}

func appendStringField(b []byte, key, v string) []byte {
	return appendString(append(b, key...), v)
}

// appendOptionalString is a string field tagged omitempty.
func appendOptionalString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStringField(b, key, v)
}

// appendTrueField is a bool field tagged omitempty: field is the whole
// `,"key":true`.
func appendTrueField(b []byte, field string, v bool) []byte {
	if !v {
		return b
	}
	return append(b, field...)
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the ASCII bytes a JSON string holds as they are: one
// load per byte where six comparisons were, in the loop every path and
// ancestor of every event goes through.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes s as a JSON string escaped as encoding/json escapes it
// by default: quote, backslash and control characters; <, > and & (safe to
// embed in HTML); U+2028 and U+2029 (safe in JavaScript); and every byte of
// invalid UTF-8 as U+FFFD, since paths and argv are bytes, not text.
func appendString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	plain := 0 // s[plain:i] is waiting to be copied as it is
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[plain:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			plain = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		var escaped string
		switch {
		case r == utf8.RuneError && size == 1:
			escaped = `\ufffd`
		case r == '\u2028':
			escaped = `\u2028`
		case r == '\u2029':
			escaped = `\u2029`
		default:
			i += size
			continue
		}
		b = append(b, s[plain:i]...)
		b = append(b, escaped...)
		i += size
		plain = i
	}
	b = append(b, s[plain:]...)
	return append(b, '"')
}
