package alert

import (
	"net/netip"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// ObservationOf is the behaviour an alert reports, as the judge saw it, so
// that it can be judged again against another profile (what `vigilctl
// profiles mode … enforce --dry-run` does). It reports false for an alert
// that carries no behaviour (an agent's gap) or one it cannot read back.
func ObservationOf(a *vigilv1.Alert) (profile.Observation, bool) {
	obj := a.GetObject()
	path := obj.GetPath()
	if raw := obj.GetRawPath(); raw != nil {
		path = string(raw)
	}
	o := profile.Observation{ContainerID: a.GetContainer().GetId(), Node: a.GetNode(), Time: a.GetTime().AsTime()}
	switch a.GetKind() {
	case vigilv1.Kind_KIND_EXEC:
		o.Kind, o.Path = profile.KindExec, path
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
	default:
		return profile.Observation{}, false
	}
	return o, true
}

// accessOf reads an open alert's access back; an open whose access was not
// known is not judged again.
var accessOf = map[string]profile.Access{
	"read": profile.AccessRead, "write": profile.AccessWrite, "read,write": profile.AccessReadWrite,
}
