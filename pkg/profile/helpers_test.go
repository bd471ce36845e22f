package profile

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// testDigest makes a well-formed digest from a seed.
func testDigest(seed string) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(seed)))
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func execObs(p string) Observation { return Observation{Kind: KindExec, Path: p} }

func openObs(p string, a Access) Observation { return Observation{Kind: KindOpen, Path: p, Access: a} }

func connObs(addr string, port uint16, proto Protocol) Observation {
	return Observation{Kind: KindConnect, Network: Destination{Addr: netip.MustParseAddr(addr), Port: port, Protocol: proto}}
}

func unixObs(p string) Observation { return Observation{Kind: KindConnect, UnixPath: p} }

func capObs(c Capability) Observation { return Observation{Kind: KindCapability, Capability: c} }

// observeAll feeds observations stamped with container, node and a clock
// that advances a second per observation; it fails the test on an error.
func observeAll(tb testing.TB, d *Draft, container, node string, start time.Time, obs ...Observation) (added int) {
	tb.Helper()
	for i, o := range obs {
		o.ContainerID, o.Node, o.Time = container, node, start.Add(time.Duration(i)*time.Second)
		ok, err := d.Observe(o)
		if err != nil {
			tb.Fatalf("observe %+v: %v", o, err)
		}
		if ok {
			added++
		}
	}
	return added
}

func mustDraft(tb testing.TB, image string, lim Limits) *Draft {
	tb.Helper()
	d, err := NewDraft(image, testDigest(image), lim)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// workload is a small, realistic set of observations of a web server.
func workload() []Observation {
	return []Observation{
		execObs("/usr/sbin/nginx"),
		execObs("/bin/sh"),
		openObs("/etc/nginx/nginx.conf", AccessRead),
		openObs("/etc/passwd", AccessRead),
		openObs("/var/log/nginx/access.log", AccessWrite),
		openObs("/proc/17/status", AccessRead),
		openObs("/proc/18/status", AccessRead),
		connObs("10.0.0.5", 5432, TCP),
		connObs("10.96.0.10", 53, UDP),
		connObs("2001:db8::1", 443, TCP),
		unixObs("/run/nginx.sock"),
		unixObs("@/containerd-shim/abc.sock"),
		capObs(10), // CAP_NET_BIND_SERVICE
		capObs(6),  // CAP_SETGID
	}
}
