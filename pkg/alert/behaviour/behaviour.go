// Package behaviour is how an alert shows the behaviour it reports, both
// ways: Of renders an observation into an alert's kind, object and access;
// Observation reads an alert back into the observation, so that it can be
// judged again (vigilctl's dry run). It needs only the profile model and
// the API, so that vigilctl builds for every platform.
package behaviour

import (
	"net/netip"
	"slices"
	"strings"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// Of is what an alert shows of the behaviour o: its kind, its object and
// the access asked for.
func Of(o profile.Observation) (vigilv1.Kind, *vigilv1.Object, string) {
	switch o.Kind {
	case profile.KindExec:
		obj := &vigilv1.Object{Path: o.Path, Written: o.Written}
		if profile.MultiCall(o.Path) {
			obj.Applet = o.Applet
		}
		return vigilv1.Kind_KIND_EXEC, obj, "exec"
	case profile.KindOpen:
		return vigilv1.Kind_KIND_OPEN, &vigilv1.Object{Path: o.Path}, strings.ReplaceAll(o.Access.String(), "readwrite", "read,write")
	case profile.KindConnect:
		if o.UnixPath != "" {
			return vigilv1.Kind_KIND_CONNECT, &vigilv1.Object{Path: o.UnixPath, Protocol: "unix"}, "connect"
		}
		n := o.Network
		return vigilv1.Kind_KIND_CONNECT, &vigilv1.Object{Address: n.Addr.String(), Port: uint32(n.Port), Protocol: n.Protocol.String()}, "connect"
	case profile.KindCapability:
		return vigilv1.Kind_KIND_CAPABILITY, &vigilv1.Object{Capability: o.Capability.String()}, "use"
	case profile.KindIoUring:
		return vigilv1.Kind_KIND_IO_URING, &vigilv1.Object{IoUringOp: o.IoUring.String()}, "use"
	}
	return vigilv1.Kind_KIND_UNSPECIFIED, &vigilv1.Object{}, ""
}

// Observation is the behaviour an alert reports, as the judge saw it, so
// that it can be judged again against another profile (what `vigilctl
// profiles mode … enforce --dry-run` does). It reports false for an alert
// that carries no behaviour (an agent's gap) or one it cannot read back.
func Observation(a *vigilv1.Alert) (profile.Observation, bool) {
	obj := a.GetObject()
	path := obj.GetPath()
	if raw := obj.GetRawPath(); raw != nil {
		path = string(raw)
	}
	o := profile.Observation{ContainerID: a.GetContainer().GetId(), Node: a.GetNode(), Time: a.GetTime().AsTime()}
	switch a.GetKind() {
	case vigilv1.Kind_KIND_EXEC:
		o.Kind, o.Path, o.Written = profile.KindExec, path, obj.GetWritten()
		o.Applet = profile.Applet(argvOf(a.GetProcess()), slices.Contains(strings.Split(a.GetLabels()["flags"], ","), "argv_truncated"))
	case vigilv1.Kind_KIND_OPEN:
		access, ok := accessOf[a.GetAccess()]
		if !ok {
			return profile.Observation{}, false
		}
		o.Kind, o.Path, o.Access = profile.KindOpen, path, access
	case vigilv1.Kind_KIND_CONNECT:
		o.Kind = profile.KindConnect
		switch obj.GetProtocol() {
		case "unix":
			o.UnixPath = path
		case "tcp", "udp":
			addr, err := netip.ParseAddr(obj.GetAddress())
			if err != nil || obj.GetPort() > 65535 {
				return profile.Observation{}, false
			}
			o.Network = profile.Destination{Addr: addr, Port: uint16(obj.GetPort()), Protocol: profile.TCP}
			if obj.GetProtocol() == "udp" {
				o.Network.Protocol = profile.UDP
			}
		default:
			return profile.Observation{}, false
		}
	case vigilv1.Kind_KIND_CAPABILITY:
		c, err := profile.ParseCapability(obj.GetCapability())
		if err != nil {
			return profile.Observation{}, false
		}
		o.Kind, o.Capability = profile.KindCapability, c
	case vigilv1.Kind_KIND_IO_URING:
		op, err := profile.ParseIoUringOp(obj.GetIoUringOp())
		if err != nil {
			return profile.Observation{}, false
		}
		o.Kind, o.IoUring = profile.KindIoUring, op
	default:
		return profile.Observation{}, false
	}
	return o, true
}

// argvOf is a process's argv as the kernel reported it.
func argvOf(p *vigilv1.Process) []string {
	if raw := p.GetRawArgv(); raw != nil {
		argv := make([]string, len(raw))
		for i, arg := range raw {
			argv[i] = string(arg)
		}
		return argv
	}
	return p.GetArgv()
}

// accessOf reads an open alert's access back; an open whose access was not
// known is not judged again.
var accessOf = map[string]profile.Access{
	"read": profile.AccessRead, "write": profile.AccessWrite, "read,write": profile.AccessReadWrite,
}
