package alert

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigil-dev/vigil/pkg/alert/behaviour"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// build makes the alert for one violation, without id, count or window.
func build(node string, rec *enrich.Record, v profile.Verdict, action vigilv1.Action) *vigilv1.Alert {
	ev := rec.Event
	c := rec.Attribution.Container
	kind, obj, access := behaviour.Of(v.Observation)
	if obj.Applet != "" {
		obj.Applet = DisplayName(obj.Applet)
	}
	a := &vigilv1.Alert{
		Time:      timestamppb.New(ev.Time),
		Node:      node,
		Container: containerProto(c),
		Process:   processOf(rec),
		Kind:      kind,
		Object:    obj,
		Access:    access,
		Rule:      v.Rule,
		Action:    action,
		Severity:  severity(action),
		Labels:    map[string]string{"mode": string(v.Mode)},
	}
	for _, p := range rec.Ancestry {
		a.Ancestry = append(a.Ancestry, processProto(p))
	}
	if v.Profile != nil {
		a.ProfileVersion = v.Profile.Metadata.Version
		if from := v.Profile.Metadata.InheritedFrom; from != "" {
			a.Labels[LabelInheritedFrom] = from
		}
	}
	if flags := execFlags(rec); flags != "" {
		a.Labels["flags"] = flags
	}
	if left := fileLeft(ev, action); left != "" {
		a.Labels[LabelFileLeft] = left
	}
	carryNames(a) // before the detail, which shows the names
	a.Detail = clip(fmt.Sprintf("%s %s by %s in %s: %s", access, describe(obj), a.Process.Path,
		imageRef(c.Image, c.ImageDigest), v.Rule))
	return a
}

func processOf(rec *enrich.Record) *vigilv1.Process {
	p := processProto(rec.Process)
	ev := rec.Event
	p.Pid, p.Ppid, p.Uid, p.Gid, p.Comm = int32(ev.PID), int32(ev.PPID), ev.UID, ev.GID, ev.Comm
	if ev.Type == sensor.TypeExec { // the new image, whatever the table knew before
		p.Path, p.Argv = ev.Exec.Path, ev.Exec.Argv
	}
	return p
}

func processProto(p process.Process) *vigilv1.Process {
	return &vigilv1.Process{Pid: int32(p.PID), Ppid: int32(p.PPID), Path: p.Path, Argv: p.Argv, Comm: p.Comm}
}

// processKey is the process part of the deduplication key.
func processKey(p *vigilv1.Process) string {
	if p.RawPath != nil { // two names can show alike
		return string(p.RawPath)
	}
	return p.Path
}

// objectKey is the object part of the deduplication key.
func objectKey(obj *vigilv1.Object) string {
	switch {
	case obj.Capability != "":
		return obj.Capability
	case obj.IoUringOp != "":
		return "io_uring " + obj.IoUringOp
	case obj.Address != "":
		return netip.AddrPortFrom(netip.MustParseAddr(obj.Address), uint16(obj.Port)).String() + "/" + obj.Protocol
	}
	path := obj.Path
	if obj.RawPath != nil { // two names can show alike
		path = string(obj.RawPath)
	}
	if obj.Applet != "" || obj.Written {
		return fmt.Sprintf("%s\x00%s\x00%t", path, obj.Applet, obj.Written)
	}
	return path
}

func describe(obj *vigilv1.Object) string {
	switch {
	case obj.Capability != "":
		return obj.Capability
	case obj.IoUringOp != "":
		return "io_uring " + obj.IoUringOp
	case obj.Address != "":
		return fmt.Sprintf("%s port %d/%s", obj.Address, obj.Port, obj.Protocol)
	}
	s := obj.Path
	if obj.Applet != "" {
		s += " as " + obj.Applet
	}
	if obj.Written {
		s += " (written at run time)"
	}
	return s
}

func imageRef(image, digest string) string {
	if image == "" {
		return digest
	}
	return image + "@" + digest
}

func severity(action vigilv1.Action) vigilv1.Severity {
	if action == vigilv1.Action_ACTION_ALERTED {
		return vigilv1.Severity_SEVERITY_WARNING
	}
	return vigilv1.Severity_SEVERITY_ERROR
}

// LabelInheritedFrom marks an alert judged by a profile the image's digest
// inherited (profile.Ref of the parent): behaviour of the new version
// beyond the previous one's, its delta.
const LabelInheritedFrom = "inherited_from"

// LabelFileLeft marks the alert of a refused open(O_CREAT) with what the
// refusal leaves behind. The fanotify permission event and the LSM
// file_open hook both come after the kernel has created a missing file,
// and refusing the open does not remove it; a file that existed is left as
// it was (O_TRUNC and appends come after the check).
const (
	LabelFileLeft = "file_left"
	// FileLeftEmpty: the open had O_EXCL, so it created the file (on an
	// existing one it fails with EEXIST before it is judged), and an empty
	// file is left.
	FileLeftEmpty = "empty"
	// FileLeftEmptyIfNew: an O_CREAT open without O_EXCL (">", ">>") left
	// an empty file if none existed. Whether one did, the event cannot
	// tell: the permission event carries no more than the opened file.
	FileLeftEmptyIfNew = "empty_if_new"
)

// fileLeft is the file_left label of an open the kernel refused: what the
// open's flags say the refusal left, "" for an open that creates nothing.
func fileLeft(ev *sensor.Event, action vigilv1.Action) string {
	if action != vigilv1.Action_ACTION_BLOCKED || ev.Type != sensor.TypeOpen || ev.Open.Flags&unix.O_CREAT == 0 {
		return ""
	}
	if ev.Open.Flags&unix.O_EXCL != 0 {
		return FileLeftEmpty
	}
	return FileLeftEmptyIfNew
}

// execFlags names the exec flags a reader should see (memfd, deleted, …).
func execFlags(rec *enrich.Record) string {
	if rec.Event.Type != sensor.TypeExec {
		return ""
	}
	return strings.Join(rec.ExecFlags(), ",")
}
