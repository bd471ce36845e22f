package enforce

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// maxExpandedPorts bounds how many single-port rules a port range becomes;
// a wider range is compiled as any port.
const maxExpandedPorts = 256

// compiled is a profile in the kernel's terms.
type compiled struct {
	paths []PathRule
	nets  []NetRule
	masks Masks
	// widened lists entries the kernel enforces more loosely than the
	// profile says (an operator should know).
	widened []string
	// exact: the kernel's rules for these hooks allow exactly what the
	// profile does, so their allowed events may stay in the kernel (a
	// widened rule would hide violations the profile reports).
	exact Hooks
	// rules indexes paths by key: patterns that compile to one key share
	// its rule, with the union of their access.
	rules map[PathRule]int
}

// compile turns a profile into kernel rules. Patterns the kernel matcher
// cannot express exactly are widened, never narrowed: enforcement may allow
// a little more than the profile, never deny what it allows.
func compile(p *profile.Profile) compiled {
	c := compiled{exact: HookCapability | HookIoUring, rules: map[PathRule]int{}}
	execs := make([]pathPattern, 0, len(p.Spec.Executables))
	for _, e := range p.Spec.Executables {
		every, some := ExecImage, ExecImageSome
		if e.Written {
			every, some = every|ExecWritten, some|ExecWrittenSome
		}
		access := every | some
		if e.As != "" {
			access = some
			c.addApplet(e.Path, e.As, every)
		}
		execs = append(execs, c.parsePath(e.Path, access))
	}
	c.addPaths(ListExec, execs)
	widened := len(c.widened)
	files := make([]pathPattern, 0, len(p.Spec.Files))
	for _, e := range p.Spec.Files {
		if e.Image {
			c.addImage(e)
			continue
		}
		files = append(files, c.parsePath(e.Path, uint8(e.Access)))
	}
	c.addPaths(ListFiles, files)
	if len(c.widened) == widened {
		c.exact |= HookOpen
	}
	widened = len(c.widened)
	for _, n := range p.Spec.Network {
		if !n.IsUnix() {
			c.addNet(n)
		}
	}
	// Only inet connects are kept in the kernel when allowed: a widened
	// unix pattern hides none of them.
	if len(c.widened) == widened {
		c.exact |= HookConnect
	}
	var sockets []pathPattern
	for _, n := range p.Spec.Network {
		switch {
		case !n.IsUnix():
		case strings.HasPrefix(n.Unix, "@"):
			c.addRule(PathRule{List: ListAbstract, Match: MatchExact, Hash: abstractHash(n.Unix), Access: 1})
		default:
			sockets = append(sockets, c.parsePath(n.Unix, 1))
		}
	}
	c.addPaths(ListUnix, sockets)
	for _, e := range p.Spec.Capabilities {
		if e.Capability < 64 {
			c.masks.Capabilities |= 1 << e.Capability
		}
	}
	for _, e := range p.Spec.IoUring {
		c.masks.IoUring |= ioUringBit(e.Op)
	}
	return c
}

// addApplet compiles the applet rule of an executables entry that names
// one: its path and applet, hashed as the kernel hashes them
// (lib/applet.h), allowed for the entry's origins. The path's own rule
// then allows it only as some applet.
func (c *compiled) addApplet(path, as string, access uint8) {
	h := pathHash(strings.Split(strings.TrimPrefix(path, "/"), "/"), true)
	h = fnvByte(h, '/')
	for i := 0; i < len(as); i++ {
		h = fnvByte(h, as[i])
	}
	c.addRule(PathRule{List: ListApplets, Match: MatchExact, Hash: h, Access: access})
}

// ioUringBit is op's bit in a profile's io_uring mask (enum
// vigil_io_uring_op): opcodes from 63 on have none, the kernel never
// allows them.
func ioUringBit(op profile.IoUringOp) uint64 {
	switch {
	case op == profile.IoUringSetup:
		return 1 << bpfobj.RecordVigilIoUringOpVIGIL_IO_URING_SETUP_BIT
	case uint32(op) < uint32(bpfobj.RecordVigilIoUringOpVIGIL_IO_URING_SETUP_BIT):
		return 1 << op
	}
	return 0
}

// parsePath reads one pattern: "dir/**" matches dir's subtree, "dir/*" its
// children, anything else exactly; a "*" before the last component is
// matched by the kernel's starred hash (stars.go). A volatile name written
// in a pattern (an id, or a number written out where the learner writes
// {n}) matches only itself in the profile but every name of its canonical
// form in the kernel: a widening.
func (c *compiled) parsePath(pattern string, access uint8) pathPattern {
	comps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	last := len(comps) - 1
	match := MatchExact
	switch comps[last] {
	case "**":
		match, comps = MatchSubtree, comps[:last]
	case "*":
		match, comps = MatchChildren, comps[:last]
	}
	for _, comp := range comps {
		if profile.CanonicalName(comp) != comp {
			// The kernel hashes every name in its canonical form: a literal
			// volatile one matches them all there, and only itself in the
			// profile.
			c.widened = append(c.widened, fmt.Sprintf("%s: %q matches any such name", pattern, comp))
			break
		}
	}
	if len(comps) == 1 && comps[0] == "" { // the root itself: "/" exactly, or below "/"
		comps = nil
	}
	return pathPattern{pattern: pattern, comps: comps, match: match, access: access}
}

// addPaths compiles one list's patterns, with the star prefixes their
// inner "*"s need and the mark that the list has any.
func (c *compiled) addPaths(list PathList, patterns []pathPattern) {
	prefixes := starPrefixes(patterns)
	for _, p := range patterns {
		rule := PathRule{Match: p.match, Hash: pathHash(p.comps, p.match == MatchExact), Access: p.access}
		if p.hasInnerStar() {
			var wider string
			if rule, wider = starredForm(p, prefixes); wider != "" {
				c.widened = append(c.widened, fmt.Sprintf("%s: enforced as %s (another pattern's \"*\" lies on its paths)", p.pattern, wider))
			}
		}
		rule.List = list
		c.addRule(rule)
	}
	if len(prefixes) > 0 {
		c.addRule(PathRule{List: list, Match: MatchStarPrefix, Hash: 0, Access: 1})
	}
	for _, h := range slices.Sorted(maps.Keys(prefixes)) {
		c.addRule(PathRule{List: list, Match: MatchStarPrefix, Hash: h, Access: 1})
	}
}

// addRule adds r, or its access to the rule of the same key.
func (c *compiled) addRule(r PathRule) {
	key := r
	key.Access = 0
	if i, ok := c.rules[key]; ok {
		c.paths[i].Access |= r.Access
		return
	}
	c.rules[key] = len(c.paths)
	c.paths = append(c.paths, r)
}

// addImage compiles an image entry, "dir/**" of a literal dir (as the
// profile validates it): the kernel matches it at dir for files it flags
// as image content only.
func (c *compiled) addImage(e profile.FileEntry) {
	comps := strings.Split(strings.TrimPrefix(strings.TrimSuffix(e.Path, "/**"), "/"), "/")
	for _, comp := range comps {
		if profile.CanonicalName(comp) != comp {
			c.widened = append(c.widened, fmt.Sprintf("%s: %q matches any such name", e.Path, comp))
			break
		}
	}
	c.addRule(PathRule{List: ListFiles, Match: MatchImageSubtree, Hash: pathHash(comps, false), Access: uint8(e.Access)})
}

// addNet compiles an inet entry.
func (c *compiled) addNet(n profile.NetworkEntry) {
	proto := uint8(unix.IPPROTO_TCP)
	if n.Protocol == profile.UDP {
		proto = unix.IPPROTO_UDP
	}
	prefix := n.Prefix
	if prefix.Addr().Is4In6() {
		prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
	}
	switch r := n.Ports; {
	case r == profile.AnyPort || int(r.Hi)-int(r.Lo) >= maxExpandedPorts:
		if r != profile.AnyPort {
			c.widened = append(c.widened, fmt.Sprintf("%s ports %s: enforced as any port", prefix, r))
		}
		c.nets = append(c.nets, NetRule{Prefix: prefix, Port: 0, Protocol: proto})
	default:
		for port := int(r.Lo); port <= int(r.Hi); port++ {
			c.nets = append(c.nets, NetRule{Prefix: prefix, Port: uint16(port), Protocol: proto})
		}
	}
}

// FNV-1a 64, as bpf/lib/match.h computes it.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

// abstractHash hashes an abstract socket name ("@name") whole, as
// bpf/lib/unix.h does.
func abstractHash(name string) uint64 {
	h := fnvOffset
	for i := 0; i < len(name); i++ {
		h = fnvByte(h, name[i])
	}
	return h
}

// pathHash hashes "/c1/c2/…" in the kernel's canonical form
// (profile.CanonicalName): a volatile component (all digits, a long hex id,
// a UUID) as "*", runs of digits in a name with a long one as {n}. The
// empty path (the root as a directory) hashes to the offset, as the
// kernel's scan starts.
func pathHash(comps []string, exact bool) uint64 {
	h := fnvOffset
	if exact && len(comps) == 0 {
		return fnvByte(h, '/') // "/" itself
	}
	for _, comp := range comps {
		h = fnvByte(h, '/')
		comp = profile.CanonicalName(comp)
		for i := 0; i < len(comp); i++ {
			h = fnvByte(h, comp[i])
		}
	}
	return h
}
