package trace

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Writer prints records. Output is buffered: call Flush when idle.
type Writer interface {
	Write(*enrich.Record) error
	Flush() error
}

// NewJSONWriter writes one JSON object (schema JSON) per line.
func NewJSONWriter(w io.Writer) Writer {
	return &jsonWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

type jsonWriter struct {
	w    *bufio.Writer
	enc  jsonEncoder
	line []byte
}

func (j *jsonWriter) Write(r *enrich.Record) error {
	j.line = j.enc.appendRecord(j.line[:0], r)
	_, err := j.w.Write(j.line)
	return err
}

func (j *jsonWriter) Flush() error { return j.w.Flush() }

// NewTableWriter writes a readable line per record, under a header line.
func NewTableWriter(w io.Writer) Writer {
	return &tableWriter{w: bufio.NewWriter(w)}
}

type tableWriter struct {
	w             *bufio.Writer
	headerWritten bool
}

const tableFormat = "%-12s %-10s %7s %7s %5s %-16s %-12s %s\n"

func (t *tableWriter) Write(r *enrich.Record) error {
	if !t.headerWritten {
		fmt.Fprintf(t.w, tableFormat, "TIME", "TYPE", "PID", "PPID", "UID", "COMM", "CONTAINER", "DETAIL")
		t.headerWritten = true
	}
	ev := r.Event
	// comm, paths and argv are the traced process's to choose: escaped.
	_, err := fmt.Fprintf(t.w, tableFormat, ev.Time.Format("15:04:05.000"), ev.Type,
		strconv.FormatUint(uint64(ev.PID), 10), strconv.FormatUint(uint64(ev.PPID), 10),
		strconv.FormatUint(uint64(ev.UID), 10), cliout.Escape(ev.Comm), cliout.Escape(containerColumn(r)), cliout.Escape(detail(r)))
	return err
}

// containerColumn is the container's short id, "-" on the host, "?" when
// unattributed.
func containerColumn(r *enrich.Record) string {
	switch c := r.Attribution.Container; {
	case c != nil:
		return c.ID[:min(12, len(c.ID))]
	case r.Attribution.Kind == containers.Unattributed:
		return "?"
	}
	return "-"
}

func (t *tableWriter) Flush() error { return t.w.Flush() }

// detail is the type-specific part of a table line.
func detail(r *enrich.Record) string {
	ev := r.Event
	var b strings.Builder
	switch ev.Type {
	case sensor.TypeExec:
		b.WriteString(ev.Exec.Path)
		if len(ev.Exec.Argv) > 1 {
			b.WriteString(" " + strings.Join(ev.Exec.Argv[1:], " "))
		}
		for _, f := range r.ExecFlags() {
			b.WriteString(" [" + f + "]")
		}
	case sensor.TypeOpen:
		fmt.Fprintf(&b, "%s %s ret=%d", ev.Open.Path, strings.Join(ev.Open.Flags.Names(), ","), ev.Open.Ret)
		if r.PathTruncated() {
			b.WriteString(" [path_truncated]")
		}
	case sensor.TypeConnect:
		c := ev.Connect
		if c.UnixPath != "" {
			fmt.Fprintf(&b, "unix %s ret=%d", c.UnixPath, c.Ret)
		} else {
			fmt.Fprintf(&b, "%s %s ret=%d", c.Protocol, netip.AddrPortFrom(c.Addr, c.Port), c.Ret)
		}
	case sensor.TypeCapability:
		verdict := "granted"
		if !ev.Capability.Granted() {
			verdict = "refused"
		}
		fmt.Fprintf(&b, "%s %s", ev.Capability.Name(), verdict)
	case sensor.TypeIoUring:
		b.WriteString(profile.IoUringOp(ev.IoUring.Op).String())
	case sensor.TypeFork:
		fmt.Fprintf(&b, "child=%d", ev.Fork.ChildPID)
	case sensor.TypeExit:
		fmt.Fprintf(&b, "code=%d signal=%d", ev.Exit.Code(), ev.Exit.Signal())
	}
	return b.String()
}
