package sink

import (
	"fmt"
	"strings"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// FalcoEvent is Falco's output JSON, the format Falcosidekick accepts.
type FalcoEvent struct {
	UUID         string         `json:"uuid"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         string         `json:"time"`
	Source       string         `json:"source"`
	Hostname     string         `json:"hostname"`
	Tags         []string       `json:"tags"`
	OutputFields map[string]any `json:"output_fields"`
}

// FalcoPriority maps an alert onto Falco's priorities: its severity when
// set, else Critical for blocked or killed and Warning for alerted.
func FalcoPriority(a *vigilv1.Alert) string {
	switch a.GetSeverity() {
	case vigilv1.Severity_SEVERITY_INFO:
		return "Informational"
	case vigilv1.Severity_SEVERITY_NOTICE:
		return "Notice"
	case vigilv1.Severity_SEVERITY_WARNING:
		return "Warning"
	case vigilv1.Severity_SEVERITY_ERROR:
		return "Error"
	case vigilv1.Severity_SEVERITY_CRITICAL:
		return "Critical"
	}
	if a.GetAction() == vigilv1.Action_ACTION_BLOCKED || a.GetAction() == vigilv1.Action_ACTION_KILLED {
		return "Critical"
	}
	return "Warning"
}

// ObjectString renders what an alert's process acted on.
func ObjectString(a *vigilv1.Alert) string {
	o := a.GetObject()
	switch {
	case o.GetCapability() != "":
		return o.GetCapability()
	case o.GetIoUringOp() != "":
		return "io_uring " + o.GetIoUringOp()
	case o.GetAddress() != "":
		addr := o.GetAddress()
		if strings.Contains(addr, ":") {
			addr = "[" + addr + "]"
		}
		return fmt.Sprintf("%s:%d", addr, o.GetPort())
	}
	return o.GetPath()
}

// ToFalco converts an alert into Falco's output format. Field names follow
// Falco's where one exists (container.id, k8s.ns.name, proc.cmdline, …).
func ToFalco(a *vigilv1.Alert) FalcoEvent {
	c, p := a.GetContainer(), a.GetProcess()
	rule := a.GetRule()
	if rule == "" {
		rule = "vigil " + a.GetKind().ShortName() + " outside profile"
	}
	output := fmt.Sprintf("%s %s %s by %s (pid %d) in %s/%s image %s [%s]",
		a.GetAction().ShortName(), a.GetKind().ShortName(), ObjectString(a), p.GetPath(), p.GetPid(),
		c.GetNamespace(), c.GetPod(), c.GetImage(), rule)
	fields := map[string]any{
		"vigil.alert.id":         a.GetId(),
		"vigil.action":           a.GetAction().ShortName(),
		"vigil.kind":             a.GetKind().ShortName(),
		"vigil.object":           ObjectString(a),
		"vigil.access":           a.GetAccess(),
		"vigil.profile.version":  a.GetProfileVersion(),
		"vigil.count":            a.GetCount(),
		"container.id":           c.GetId(),
		"container.name":         c.GetName(),
		"container.image":        c.GetImage(),
		"container.image.digest": c.GetImageDigest(),
		"k8s.ns.name":            c.GetNamespace(),
		"k8s.pod.name":           c.GetPod(),
		"k8s.pod.uid":            c.GetPodUid(),
		"proc.pid":               p.GetPid(),
		"proc.exepath":           p.GetPath(),
		"proc.cmdline":           strings.Join(p.GetArgv(), " "),
		"proc.name":              p.GetComm(),
		"user.uid":               p.GetUid(),
		"evt.hostname":           a.GetNode(),
		"vigil.detail":           a.GetDetail(),
		"vigil.first_seen":       a.GetFirstSeen().AsTime().UTC().Format(time.RFC3339Nano),
	}
	if len(a.GetAncestry()) > 0 {
		fields["proc.pexepath"] = a.GetAncestry()[0].GetPath()
	}
	return FalcoEvent{
		UUID:         a.GetId(),
		Output:       output,
		Priority:     FalcoPriority(a),
		Rule:         rule,
		Time:         a.GetTime().AsTime().UTC().Format(time.RFC3339Nano),
		Source:       "vigil",
		Hostname:     a.GetNode(),
		Tags:         []string{"vigil", a.GetKind().ShortName(), a.GetAction().ShortName()},
		OutputFields: fields,
	}
}
