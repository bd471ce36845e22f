package behaviour

import (
	"net/netip"
	"testing"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// TestObservationReadsBackWhatOfShows: every kind of behaviour
// an alert is built from reads back as the same observation, so a dry run
// judges what the agent judged.
func TestObservationReadsBackWhatOfShows(t *testing.T) {
	for _, o := range []profile.Observation{
		{Kind: profile.KindExec, Path: "/bin/nc"},
		{Kind: profile.KindOpen, Path: "/etc/shadow", Access: profile.AccessRead},
		{Kind: profile.KindOpen, Path: "/etc/passwd", Access: profile.AccessWrite},
		{Kind: profile.KindOpen, Path: "/var/lib/db", Access: profile.AccessReadWrite},
		{Kind: profile.KindOpen, Path: "/tmp/\xff", Access: profile.AccessRead},
		{Kind: profile.KindConnect, Network: profile.Destination{Addr: netip.MustParseAddr("10.0.0.5"), Port: 5432, Protocol: profile.TCP}},
		{Kind: profile.KindConnect, Network: profile.Destination{Addr: netip.MustParseAddr("fd00::1"), Port: 53, Protocol: profile.UDP}},
		{Kind: profile.KindConnect, UnixPath: "/run/docker.sock"},
		{Kind: profile.KindCapability, Capability: 21},
		{Kind: profile.KindIoUring, IoUring: profile.IoUringSetup},
		{Kind: profile.KindIoUring, IoUring: 18},
	} {
		kind, obj, access := Of(o)
		a := &vigilv1.Alert{Kind: kind, Object: obj, Access: access, Container: &vigilv1.Container{Id: "c1"}}
		got, ok := Observation(a)
		if !ok || got.Kind != o.Kind || got.Path != o.Path || got.Access != o.Access || got.Network != o.Network ||
			got.UnixPath != o.UnixPath || got.Capability != o.Capability || got.IoUring != o.IoUring || got.ContainerID != "c1" {
			t.Errorf("alert %v %v read back as %+v (%v), want %+v", a.GetKind(), a.GetObject(), got, ok, o)
		}
	}
	if _, ok := Observation(&vigilv1.Alert{Kind: vigilv1.Kind_KIND_AGENT_GAP}); ok {
		t.Error("an agent gap reads back as behaviour")
	}
	if _, ok := Observation(&vigilv1.Alert{Kind: vigilv1.Kind_KIND_OPEN, Object: &vigilv1.Object{Path: "/x"}}); ok {
		t.Error("an open of unknown access reads back")
	}
}
