package profile

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// Profile is the allowlist of one container image, keyed by its digest.
// Build one with Decode, Draft.Profile or Merge. Treat a Profile as
// immutable once it is shared: Allows compiles it on first use and caches
// the result, so change a Clone instead.
type Profile struct {
	Metadata Metadata
	Spec     Spec

	compiled atomic.Pointer[matcher]
}

// Metadata names the image and says how far the profile can be trusted.
type Metadata struct {
	// Image is the human-readable image name, e.g. docker.io/library/nginx:1.27.
	Image string
	// Digest is the image manifest digest the profile is keyed by.
	Digest string
	// Version is bumped by whoever promotes a new revision (the collector).
	Version int64
	// Mode is the profile's own mode; it counts as the image-level setting.
	Mode Mode
	// Learning is the evidence about the learning run that produced the profile.
	Learning Learning
	// InheritedFrom names the profile version (Ref) this one was inherited
	// from: another digest of the same repository. Empty for a profile
	// learned or written for its own digest.
	InheritedFrom string
}

// Learning describes the learning run behind a profile or draft.
type Learning struct {
	Started      time.Time
	LastSeen     time.Time
	LastNewEntry time.Time
	Observations uint64
	Containers   IDSet
	Nodes        IDSet
	// Incomplete lists why the profile may lack behaviour the image has:
	// events lost or unattributed while learning, or a list that hit its
	// limit. Sorted by reason, one item per reason.
	Incomplete []IncompleteReason
}

// IncompleteReason counts the events one cause kept out of a profile.
type IncompleteReason struct {
	Reason string
	Count  uint64
}

// IsIncomplete reports whether any events may be missing from the profile.
func (l Learning) IsIncomplete() bool { return len(l.Incomplete) > 0 }

// Spec holds the five allowlists, each sorted in canonical order.
type Spec struct {
	Executables  []ExecEntry
	Files        []FileEntry
	Network      []NetworkEntry
	Capabilities []CapabilityEntry
	// IoUring lists the io_uring operations allowed: SETUP (setting up a
	// ring) and the opcodes submitted. Empty refuses io_uring.
	IoUring []IoUringEntry
}

// Names of the allowlists, as in YAML and in rule strings.
const (
	ListExecutables  = "executables"
	ListFiles        = "files"
	ListNetwork      = "network"
	ListCapabilities = "capabilities"
	ListIoUring      = "ioUring"
)

// ExecEntry allows executing files whose path matches Path (a pattern).
type ExecEntry struct {
	Path string
	// As, when set, allows the file only as this applet of a multi-call
	// binary (see Applet): /bin/busybox as sh, not as nc. Path then has no
	// wildcard. Empty allows every applet.
	As string
	// Written also allows a file written after the container started: one
	// on the container's writable layer, a memfd, a deleted file (YAML
	// "origin: written"). Without it only the image's own file at Path runs,
	// so writing, renaming or linking another file onto an allowed path
	// does not make it allowed.
	Written  bool
	Evidence Evidence
}

// FileEntry allows opening files matching Path with the given Access. An
// Image entry ("from: image" in YAML) allows only reading files the image
// ships below one directory (Path is "dir/**"): a file written or changed
// in the container at run time, there too, is not allowed by it.
type FileEntry struct {
	Path     string
	Access   Access
	Image    bool
	Evidence Evidence
}

// PortRange is an inclusive range of destination ports; AnyPort is all.
type PortRange struct{ Lo, Hi uint16 }

// AnyPort matches every port.
var AnyPort = PortRange{0, 65535}

// SinglePort is the range holding only p.
func SinglePort(p uint16) PortRange { return PortRange{p, p} }

// Contains reports whether p is in the range.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// String gives the YAML spelling: 443, 8000-8100 or any.
func (r PortRange) String() string {
	switch {
	case r == AnyPort:
		return "any"
	case r.Lo == r.Hi:
		return fmt.Sprint(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// NetworkEntry allows a connect. Either Unix is set (a unix socket path
// pattern, or an abstract socket name starting with @) and nothing else, or
// Prefix, Ports and Protocol describe inet destinations.
type NetworkEntry struct {
	Unix     string
	Prefix   netip.Prefix
	Ports    PortRange
	Protocol Protocol
	Evidence Evidence
}

// IsUnix reports whether the entry is for unix sockets.
func (n NetworkEntry) IsUnix() bool { return n.Unix != "" }

// CapabilityEntry allows using one capability.
type CapabilityEntry struct {
	Capability Capability
	Evidence   Evidence
}

// IoUringEntry allows one io_uring operation.
type IoUringEntry struct {
	Op       IoUringOp
	Evidence Evidence
}

// String names the entry as rule strings do.
func (e ExecEntry) String() string {
	s := e.Path
	if e.As != "" {
		s += " as " + e.As
	}
	if e.Written {
		s += " (" + OriginWritten + ")"
	}
	return s
}

// String names the entry as rule strings do.
func (e FileEntry) String() string {
	if e.Image {
		return fmt.Sprintf("%s (%s, from image)", e.Path, e.Access)
	}
	return fmt.Sprintf("%s (%s)", e.Path, e.Access)
}

// String names the entry as rule strings do.
func (n NetworkEntry) String() string {
	if n.IsUnix() {
		return "unix " + n.Unix
	}
	return fmt.Sprintf("%s %s port %s", n.Protocol, prefixString(n.Prefix), n.Ports)
}

// String names the entry as rule strings do.
func (c CapabilityEntry) String() string { return c.Capability.String() }

// String names the entry as rule strings do.
func (e IoUringEntry) String() string { return e.Op.String() }

// prefixString writes a single-address prefix as the bare address.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// rule formats the rule string Allows returns for a matched entry.
func rule(list string, entry fmt.Stringer) string { return list + ": " + entry.String() }

// noRuleIn holds the rule strings Allows returns when nothing matched,
// built once so that a miss does not allocate.
var noRuleIn = map[string]string{
	ListExecutables:  "no rule matched in " + ListExecutables,
	ListFiles:        "no rule matched in " + ListFiles,
	ListNetwork:      "no rule matched in " + ListNetwork,
	ListCapabilities: "no rule matched in " + ListCapabilities,
	ListIoUring:      "no rule matched in " + ListIoUring,
}

// noRule is the rule string Allows returns when nothing in list matched.
func noRule(list string) string { return noRuleIn[list] }

// Sort puts every list in canonical order.
func (s *Spec) Sort() {
	slices.SortFunc(s.Executables, func(a, b ExecEntry) int { return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.As, b.As)) })
	slices.SortFunc(s.Files, func(a, b FileEntry) int {
		return compareFiles(a, b)
	})
	slices.SortFunc(s.Network, compareNetwork)
	slices.SortFunc(s.Capabilities, func(a, b CapabilityEntry) int {
		return cmp.Compare(a.Capability.String(), b.Capability.String())
	})
	slices.SortFunc(s.IoUring, func(a, b IoUringEntry) int { return cmp.Compare(a.Op.String(), b.Op.String()) })
}

// compareFiles orders file entries by path, then an image entry after the
// plain one of the same path, then by access.
func compareFiles(a, b FileEntry) int {
	return cmp.Or(cmp.Compare(a.Path, b.Path), compareBool(a.Image, b.Image), cmp.Compare(a.Access, b.Access))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// compareNetwork orders inet entries (IPv4 before IPv6, by address, prefix
// length, ports, protocol) before unix entries (by path).
func compareNetwork(a, b NetworkEntry) int {
	if a.IsUnix() != b.IsUnix() {
		if a.IsUnix() {
			return 1
		}
		return -1
	}
	if a.IsUnix() {
		return cmp.Compare(a.Unix, b.Unix)
	}
	return cmp.Or(
		a.Prefix.Addr().Compare(b.Prefix.Addr()),
		cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()),
		cmp.Compare(a.Ports.Lo, b.Ports.Lo),
		cmp.Compare(a.Ports.Hi, b.Ports.Hi),
		cmp.Compare(a.Protocol, b.Protocol),
	)
}

// Clone returns a deep copy that can be changed freely.
func (p *Profile) Clone() *Profile {
	c := &Profile{Metadata: p.Metadata}
	c.Metadata.Learning = p.Metadata.Learning.clone()
	c.Spec.Executables = cloneEntries(p.Spec.Executables, func(e ExecEntry) ExecEntry { e.Evidence = e.Evidence.clone(); return e })
	c.Spec.Files = cloneEntries(p.Spec.Files, func(e FileEntry) FileEntry { e.Evidence = e.Evidence.clone(); return e })
	c.Spec.Network = cloneEntries(p.Spec.Network, func(e NetworkEntry) NetworkEntry { e.Evidence = e.Evidence.clone(); return e })
	c.Spec.Capabilities = cloneEntries(p.Spec.Capabilities, func(e CapabilityEntry) CapabilityEntry { e.Evidence = e.Evidence.clone(); return e })
	c.Spec.IoUring = cloneEntries(p.Spec.IoUring, func(e IoUringEntry) IoUringEntry { e.Evidence = e.Evidence.clone(); return e })
	return c
}

func cloneEntries[E any](in []E, f func(E) E) []E {
	if in == nil {
		return nil
	}
	out := make([]E, len(in))
	for i, e := range in {
		out[i] = f(e)
	}
	return out
}

func (l Learning) clone() Learning {
	l.Containers = l.Containers.clone()
	l.Nodes = l.Nodes.clone()
	l.Incomplete = slices.Clone(l.Incomplete)
	return l
}

// Equal reports whether two profiles hold the same document: metadata,
// entries and evidence (times compared as instants).
func (p *Profile) Equal(q *Profile) bool {
	a, b := p.Metadata, q.Metadata
	if a.Image != b.Image || a.Digest != b.Digest || a.Version != b.Version || a.Mode != b.Mode ||
		!a.Learning.equal(b.Learning) {
		return false
	}
	return slices.EqualFunc(p.Spec.Executables, q.Spec.Executables, func(x, y ExecEntry) bool {
		return x.Path == y.Path && x.As == y.As && x.Written == y.Written && x.Evidence.equal(y.Evidence)
	}) && slices.EqualFunc(p.Spec.Files, q.Spec.Files, func(x, y FileEntry) bool {
		return x.Path == y.Path && x.Access == y.Access && x.Image == y.Image && x.Evidence.equal(y.Evidence)
	}) && slices.EqualFunc(p.Spec.Network, q.Spec.Network, func(x, y NetworkEntry) bool {
		return x.Unix == y.Unix && x.Prefix == y.Prefix && x.Ports == y.Ports &&
			x.Protocol == y.Protocol && x.Evidence.equal(y.Evidence)
	}) && slices.EqualFunc(p.Spec.Capabilities, q.Spec.Capabilities, func(x, y CapabilityEntry) bool {
		return x.Capability == y.Capability && x.Evidence.equal(y.Evidence)
	})
}

func (l Learning) equal(o Learning) bool {
	return l.Started.Equal(o.Started) && l.LastSeen.Equal(o.LastSeen) &&
		l.LastNewEntry.Equal(o.LastNewEntry) && l.Observations == o.Observations &&
		l.Containers.equal(o.Containers) && l.Nodes.equal(o.Nodes) &&
		slices.Equal(l.Incomplete, o.Incomplete)
}

// Entries is the total number of entries over the four lists.
func (s Spec) Entries() int {
	return len(s.Executables) + len(s.Files) + len(s.Network) + len(s.Capabilities) + len(s.IoUring)
}
