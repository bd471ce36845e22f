package enforce

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/profile"
)

func TestPathHashIsCanonical(t *testing.T) {
	h := func(p string) uint64 { return pathHash(strings.Split(strings.TrimPrefix(p, "/"), "/"), true) }
	if h("/proc/123/status") != h("/proc/*/status") {
		t.Error("a digits component does not hash as *")
	}
	if h("/var/lib/0123456789abcdef0123/x") != h("/var/lib/*/x") || h("/run/123e4567-e89b-12d3-a456-426614174000") != h("/run/*") {
		t.Error("long hex ids and UUIDs do not hash as *")
	}
	if h("/usr/bin/abc") == h("/usr/bin/*") || h("/usr/bin/cafe") == h("/usr/bin/*") {
		t.Error("a plain name hashes as *")
	}
}

func TestCompileWidensWhatTheKernelCannotMatch(t *testing.T) {
	p := &profile.Profile{}
	p.Spec.Executables = []profile.ExecEntry{{Path: "/usr/bin/ls"}, {Path: "/opt/**"}, {Path: "/srv/*"}, {Path: "/home/*/bin/app"},
		{Path: "/app/2024/run"}}
	p.Spec.Network = []profile.NetworkEntry{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Ports: profile.SinglePort(443), Protocol: profile.TCP},
		{Prefix: netip.MustParsePrefix("::1/128"), Ports: profile.PortRange{Lo: 8000, Hi: 8002}, Protocol: profile.UDP},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Ports: profile.PortRange{Lo: 1, Hi: 60000}, Protocol: profile.TCP},
		{Unix: "/run/app.sock"},
	}
	p.Spec.Capabilities = []profile.CapabilityEntry{{Capability: 13}, {Capability: 21}}
	p.Spec.IoUring = []profile.IoUringEntry{{Op: profile.IoUringSetup}, {Op: 18}, {Op: 70}}
	c := compile(p)
	matches := []PathMatch{MatchExact, MatchSubtree, MatchChildren, MatchExact, MatchExact, MatchStarPrefix, MatchStarPrefix, MatchExact}
	if len(c.paths) != len(matches) {
		t.Fatalf("rules = %+v, want %d", c.paths, len(matches))
	}
	if c.paths[7].List != ListUnix || c.paths[7].Hash != pathHash([]string{"run", "app.sock"}, true) {
		t.Errorf("the unix socket's rule = %+v, want /run/app.sock in the unix list", c.paths[7])
	}
	for i, r := range c.paths {
		if r.Match != matches[i] {
			t.Errorf("rule %d matches %d, want %d", i, r.Match, matches[i])
		}
	}
	if c.paths[3].Hash != pathHash([]string{"home", "*", "bin", "app"}, true) {
		t.Error("/home/*/bin/app is not compiled as itself")
	}
	if c.paths[5].Hash != 0 || c.paths[6].Hash != pathHash([]string{"home"}, false) {
		t.Errorf("star prefixes = %+v, want the mark and /home", c.paths[5:])
	}
	if len(c.nets) != 1+3+1 || c.nets[4].Port != 0 {
		t.Errorf("network rules = %+v, want 443, 8000-8002 one by one, and a wide range as any port", c.nets)
	}
	if c.masks.Capabilities != 1<<13|1<<21 {
		t.Errorf("capability mask = %b", c.masks.Capabilities)
	}
	if c.masks.IoUring != 1<<63|1<<18 {
		t.Errorf("io_uring mask = %b, want SETUP as bit 63, OPENAT as 18 and no bit for an opcode past 62", c.masks.IoUring)
	}
	if c.paths[4].Hash != pathHash([]string{"app", "*", "run"}, true) {
		t.Error("/app/2024/run does not hash its volatile component as *")
	}
	if len(c.widened) != 2 {
		t.Errorf("widened = %q, want the volatile name and the wide port range", c.widened)
	}
	if c.exact&HookConnect != 0 {
		t.Error("connects are exact although a port range was widened")
	}
	files := compile(&profile.Profile{Spec: profile.Spec{Files: []profile.FileEntry{{Path: "/var/log/2024/app.log", Access: profile.AccessWrite}}}})
	if len(files.widened) != 1 || files.exact&HookOpen != 0 {
		t.Errorf("a file pattern naming a volatile component: widened %q, exact %b; want widened and opens not exact", files.widened, files.exact)
	}
}

// Two patterns whose "*"s lie on one path: the starred hash stars the
// names after both star prefixes, so each pattern is enforced with "*"
// where the other has one too — wider, reported, never narrower.
func TestCompileWidensCrossingStars(t *testing.T) {
	p := &profile.Profile{}
	p.Spec.Executables = []profile.ExecEntry{{Path: "/a/*/b"}, {Path: "/a/c/*/d"}, {Path: "/a/x/y"}, {Path: "/p/*/q/*/r"}}
	c := compile(p)
	want := []string{`/a/*/b: enforced as /a/*/* (another pattern's "*" lies on its paths)`,
		`/a/c/*/d: enforced as /a/*/*/d (another pattern's "*" lies on its paths)`}
	if !slices.Equal(c.widened, want) {
		t.Errorf("widened = %q, want %q", c.widened, want)
	}
	prefixes := map[uint64]bool{}
	for _, r := range c.paths {
		if r.Match == MatchStarPrefix {
			prefixes[r.Hash] = true
		}
	}
	for _, dir := range [][]string{{"a"}, {"a", "*"}, {"p"}, {"p", "*", "q"}} {
		if !prefixes[pathHash(dir, false)] {
			t.Errorf("/%s is not a star prefix", strings.Join(dir, "/"))
		}
	}
	if !slices.Contains(c.paths, PathRule{List: ListExec, Match: MatchExact, Hash: pathHash([]string{"a", "x", "y"}, true), Access: ExecImage | ExecImageSome}) {
		t.Error("/a/x/y, below a star prefix but with no \"*\", is not compiled as itself")
	}
	if c.exact&HookOpen == 0 {
		t.Error("opens are not exact although no file pattern was widened")
	}
}

// TestCompileExecutables: an entry allows its origins at its path as every
// applet, or with an applet as some (what BPF LSM asks) and that applet;
// rules of one key grant what each entry does.
func TestCompileExecutables(t *testing.T) {
	if profile.MaxAppletLen != int(bpfobj.RecordVigilAppletVIGIL_APPLET_MAX) {
		t.Fatalf("profile.MaxAppletLen %d, the kernel's %d", profile.MaxAppletLen, bpfobj.RecordVigilAppletVIGIL_APPLET_MAX)
	}
	p := &profile.Profile{}
	p.Spec.Executables = []profile.ExecEntry{
		{Path: "/bin/busybox", As: "sh"}, {Path: "/bin/busybox", As: "cat", Written: true},
		{Path: "/usr/bin/env"}, {Path: "/usr/bin/env", As: "x"},
	}
	rules := map[[2]uint64]uint8{}
	for _, r := range compile(p).paths {
		k := [2]uint64{uint64(r.List), r.Hash}
		if _, dup := rules[k]; dup {
			t.Errorf("two rules of one key: %+v", r)
		}
		rules[k] = r.Access
	}
	path := func(p string) [2]uint64 {
		return [2]uint64{uint64(ListExec), pathHash(strings.Split(strings.TrimPrefix(p, "/"), "/"), true)}
	}
	applet := func(p, as string) [2]uint64 {
		h := fnvByte(path(p)[1], '/')
		for i := 0; i < len(as); i++ {
			h = fnvByte(h, as[i])
		}
		return [2]uint64{uint64(ListApplets), h}
	}
	for k, want := range map[[2]uint64]uint8{
		path("/bin/busybox"):          ExecImageSome | ExecWrittenSome,
		applet("/bin/busybox", "sh"):  ExecImage,
		applet("/bin/busybox", "cat"): ExecImage | ExecWritten,
		path("/usr/bin/env"):          ExecImage | ExecImageSome,
		applet("/usr/bin/env", "x"):   ExecImage,
	} {
		if rules[k] != want {
			t.Errorf("rule %v grants %b, want %b", k, rules[k], want)
		}
	}
}
