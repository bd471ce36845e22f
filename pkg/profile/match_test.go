package profile

import (
	"net/netip"
	"strings"
	"testing"
)

const handWritten = `apiVersion: vigil.dev/v1
kind: ImageProfile
metadata:
  image: registry.example/shop/api:2.1
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
  mode: monitor
spec:
  executables:
    - path: /app/api
    - path: /usr/bin/*
  files:
    - path: /etc/*
      access: read
    - path: /etc/app/state.json
      access: readwrite
    - path: /usr/lib/**
      access: read
    - path: /var/log/app.log
      access: write
  network:
    - address: 10.0.0.0/8
      port: 5432
      protocol: tcp
    - address: 10.96.0.10
      port: 53
      protocol: udp
    - address: 2001:db8::/32
      port: 8000-8100
      protocol: tcp
    - address: 192.0.2.7
      port: any
      protocol: tcp
    - unix: /run/app/*.sock
    - unix: '@metrics'
  capabilities:
    - name: CAP_NET_BIND_SERVICE
`

func TestAllows(t *testing.T) {
	if _, err := Decode("hand.yaml", []byte(handWritten)); err == nil {
		t.Fatal("pattern /run/app/*.sock has a partial star and must be rejected")
	}
	fixed := []byte(strings.Replace(handWritten, "/run/app/*.sock", "/run/app/*", 1))
	p, err := Decode("hand.yaml", fixed)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(a string, port uint16, proto Protocol) Observation {
		return Observation{Kind: KindConnect, Network: Destination{Addr: netip.MustParseAddr(a), Port: port, Protocol: proto}}
	}
	for _, tc := range []struct {
		o     Observation
		allow bool
		rule  string
	}{
		{execObs("/app/api"), true, "executables: /app/api"},
		{execObs("/usr/bin/env"), true, "executables: /usr/bin/*"},
		{execObs("/usr/bin/../bin/env"), true, "executables: /usr/bin/*"},
		{execObs("/usr/local/bin/nc"), false, "no rule matched in executables"},
		{execObs("usr/bin/env"), false, "no rule matched: not an absolute path"},
		{openObs("/etc/hosts", AccessRead), true, "files: /etc/* (read)"},
		{openObs("/etc/hosts", AccessWrite), false, "no rule matched in files"},
		{openObs("/etc/app/state.json", AccessReadWrite), true, "files: /etc/app/state.json (readwrite)"},
		{openObs("/etc/app/other.json", AccessRead), false, "no rule matched in files"},
		{openObs("/usr/lib/x86_64-linux-gnu/libc.so.6", 0), true, "files: /usr/lib/** (read)"},
		{openObs("/var/log/app.log", AccessWrite), true, "files: /var/log/app.log (write)"},
		{openObs("/var/log/app.log", AccessRead), false, "no rule matched in files"},
		{conn("10.20.30.40", 5432, TCP), true, "network: tcp 10.0.0.0/8 port 5432"},
		{conn("::ffff:10.20.30.40", 5432, TCP), true, "network: tcp 10.0.0.0/8 port 5432"},
		{conn("10.20.30.40", 5432, UDP), false, "no rule matched in network"},
		{conn("10.96.0.10", 53, UDP), true, "network: udp 10.96.0.10 port 53"},
		{conn("2001:db8:1::5", 8050, TCP), true, "network: tcp 2001:db8::/32 port 8000-8100"},
		{conn("2001:db8:1::5", 8101, TCP), false, "no rule matched in network"},
		{conn("192.0.2.7", 1, TCP), true, "network: tcp 192.0.2.7 port any"},
		{conn("192.0.2.8", 1, TCP), false, "no rule matched in network"},
		{unixObs("/run/app/x.sock"), true, "network: unix /run/app/*"},
		{unixObs("@metrics"), true, "network: unix @metrics"},
		{unixObs("@other"), false, "no rule matched in network"},
		{unixObs("/run/app/../docker.sock"), false, "no rule matched: not a clean unix socket path"},
		{unixObs("/run/app//x.sock"), false, "no rule matched: not a clean unix socket path"},
		{unixObs("x.sock"), false, "no rule matched: not an absolute path"},
		{capObs(10), true, "capabilities: CAP_NET_BIND_SERVICE"},
		{capObs(13), false, "no rule matched in capabilities"},
		{capObs(200), false, "no rule matched in capabilities"},
	} {
		allow, rule := p.Allows(tc.o)
		if allow != tc.allow || rule != tc.rule {
			t.Errorf("Allows(%+v) = %v %q, want %v %q", tc.o, allow, rule, tc.allow, tc.rule)
		}
	}
}

// TestLearnedProfileAllowsItsWorkload is the monitor-mode promise: replaying
// what was learned raises nothing, and each new kind of behaviour is caught.
func TestLearnedProfileAllowsItsWorkload(t *testing.T) {
	d := mustDraft(t, "nginx:1.27", Limits{})
	observeAll(t, d, "c1", "n1", t0, workload()...)
	p := d.Profile()
	for _, o := range workload() {
		if ok, rule := p.Allows(o); !ok {
			t.Errorf("learned profile rejects %+v: %s", o, rule)
		}
	}
	if ok, _ := p.Allows(openObs("/proc/999/status", AccessRead)); !ok {
		t.Error("a new pid under the generalised /proc/*/status is rejected")
	}
	for _, o := range []Observation{execObs("/usr/bin/nc"), openObs("/etc/shadow", AccessRead),
		connObs("10.0.0.5", 22, TCP), capObs(13)} {
		if ok, _ := p.Allows(o); ok {
			t.Errorf("learned profile allows unseen %+v", o)
		}
	}
}
