package profile

import (
	"net/netip"
	"testing"
)

func TestCovers(t *testing.T) {
	p := &Profile{Spec: Spec{
		Executables: []ExecEntry{{Path: "/usr/bin/*"}, {Path: "/opt/app/**"}},
		Files:       []FileEntry{{Path: "/etc/passwd", Access: AccessRead}, {Path: "/tmp/*", Access: AccessReadWrite}, {Path: "/var/lib/**", Access: AccessRead}},
		Network: []NetworkEntry{
			{Prefix: netip.MustParsePrefix("10.0.0.0/24"), Ports: PortRange{80, 90}, Protocol: TCP},
			{Unix: "/run/*"}, {Unix: "@abstract"},
		},
		Capabilities: []CapabilityEntry{{Capability: 21}},
	}}
	for name, c := range map[string]struct {
		got, want bool
	}{
		"exec under *":         {p.CoversExec(ExecEntry{Path: "/usr/bin/curl"}), true},
		"exec * by *":          {p.CoversExec(ExecEntry{Path: "/usr/bin/*"}), true},
		"exec ** not by *":     {p.CoversExec(ExecEntry{Path: "/usr/bin/**"}), false},
		"exec deeper ** by **": {p.CoversExec(ExecEntry{Path: "/opt/app/lib/**"}), true},
		"exec ** by same **":   {p.CoversExec(ExecEntry{Path: "/opt/app/**"}), true},
		"exec wider ** not":    {p.CoversExec(ExecEntry{Path: "/opt/**"}), false},
		"exec elsewhere":       {p.CoversExec(ExecEntry{Path: "/bin/sh"}), false},
		"file same access":     {p.CoversFile(FileEntry{Path: "/etc/passwd", Access: AccessRead}), true},
		"file wider access":    {p.CoversFile(FileEntry{Path: "/etc/passwd", Access: AccessWrite}), false},
		"file under * rw":      {p.CoversFile(FileEntry{Path: "/tmp/x", Access: AccessWrite}), true},
		"file ** read only":    {p.CoversFile(FileEntry{Path: "/var/lib/a/**", Access: AccessRead}), true},
		"file ** write":        {p.CoversFile(FileEntry{Path: "/var/lib/a/**", Access: AccessWrite}), false},
		"inet inside":          {p.CoversNetwork(NetworkEntry{Prefix: netip.MustParsePrefix("10.0.0.7/32"), Ports: SinglePort(85), Protocol: TCP}), true},
		"inet wider prefix":    {p.CoversNetwork(NetworkEntry{Prefix: netip.MustParsePrefix("10.0.0.0/16"), Ports: SinglePort(85), Protocol: TCP}), false},
		"inet other port":      {p.CoversNetwork(NetworkEntry{Prefix: netip.MustParsePrefix("10.0.0.7/32"), Ports: SinglePort(443), Protocol: TCP}), false},
		"inet udp":             {p.CoversNetwork(NetworkEntry{Prefix: netip.MustParsePrefix("10.0.0.7/32"), Ports: SinglePort(85), Protocol: UDP}), false},
		"unix under *":         {p.CoversNetwork(NetworkEntry{Unix: "/run/docker.sock"}), true},
		"abstract same":        {p.CoversNetwork(NetworkEntry{Unix: "@abstract"}), true},
		"abstract other":       {p.CoversNetwork(NetworkEntry{Unix: "@other"}), false},
		"capability same":      {p.CoversCapability(CapabilityEntry{Capability: 21}), true},
		"capability other":     {p.CoversCapability(CapabilityEntry{Capability: 12}), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", name, c.got, c.want)
		}
	}
}
