package enforce

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// Hooks is a set of hook families a scope's profile is enforced on.
type Hooks uint32

// The enforceable hooks; values match enum vigil_enforce.
const (
	HookExec       = Hooks(bpfobj.RecordVigilEnforceVIGIL_ENFORCE_EXEC)
	HookOpen       = Hooks(bpfobj.RecordVigilEnforceVIGIL_ENFORCE_OPEN)
	HookConnect    = Hooks(bpfobj.RecordVigilEnforceVIGIL_ENFORCE_CONNECT)
	HookCapability = Hooks(bpfobj.RecordVigilEnforceVIGIL_ENFORCE_CAPABILITY)
	HookIoUring    = Hooks(bpfobj.RecordVigilEnforceVIGIL_ENFORCE_IO_URING)
)

// PathList is which list of a profile a path rule belongs to.
type PathList uint8

// The path lists.
const (
	ListExec  = PathList(bpfobj.RecordVigilPathListVIGIL_LIST_EXEC)
	ListFiles = PathList(bpfobj.RecordVigilPathListVIGIL_LIST_FILES)
	// ListApplets holds the applets of a multi-call binary that entries
	// allow, hashed as the binary's path with the applet as one more name.
	ListApplets = PathList(bpfobj.RecordVigilPathListVIGIL_LIST_APPLETS)
	// ListUnix holds unix socket path patterns, matched as files are.
	ListUnix = PathList(bpfobj.RecordVigilPathListVIGIL_LIST_UNIX)
	// ListAbstract holds abstract unix socket names, each hashed whole.
	ListAbstract = PathList(bpfobj.RecordVigilPathListVIGIL_LIST_ABSTRACT)
)

// The access bits of an executables rule: the origins of the file it
// allows as every applet, and as some applet at least (see enum
// vigil_exec_origin in bpf/include/vigil.h).
const (
	ExecImage       = uint8(bpfobj.RecordVigilExecOriginVIGIL_EXEC_IMAGE)
	ExecWritten     = uint8(bpfobj.RecordVigilExecOriginVIGIL_EXEC_WRITTEN)
	ExecImageSome   = uint8(bpfobj.RecordVigilExecOriginVIGIL_EXEC_IMAGE_SOME)
	ExecWrittenSome = uint8(bpfobj.RecordVigilExecOriginVIGIL_EXEC_WRITTEN_SOME)
)

// PathMatch is how a path rule's hash matches (see bpf/lib/match.h).
type PathMatch uint8

// The path matches.
const (
	MatchExact    = PathMatch(bpfobj.RecordVigilPathMatchVIGIL_MATCH_EXACT)
	MatchChildren = PathMatch(bpfobj.RecordVigilPathMatchVIGIL_MATCH_CHILDREN)
	MatchSubtree  = PathMatch(bpfobj.RecordVigilPathMatchVIGIL_MATCH_SUBTREE)
	// MatchImageSubtree matches the files of a subtree the image ships.
	MatchImageSubtree = PathMatch(bpfobj.RecordVigilPathMatchVIGIL_MATCH_IMAGE_SUBTREE)
	// MatchStarPrefix marks a directory before a pattern's inner "*"
	// (stars.go); hash 0, a list that has any.
	MatchStarPrefix = PathMatch(bpfobj.RecordVigilPathMatchVIGIL_MATCH_STAR_PREFIX)
)

// PathRule is one compiled path pattern.
type PathRule struct {
	List   PathList
	Match  PathMatch
	Hash   uint64
	Access uint8 // read 1, write 2; executables and applets ExecImage and the like
}

// NetRule is one compiled network destination. Port 0 is any port.
type NetRule struct {
	Prefix   netip.Prefix
	Port     uint16
	Protocol uint8 // IPPROTO_TCP or IPPROTO_UDP
}

// Masks are a compiled profile's allowlists of numbered operations, a bit
// per number.
type Masks struct {
	Capabilities uint64
	// IoUring has a bit per opcode below 63 and bit 63 for setting up a
	// ring (enum vigil_io_uring_op).
	IoUring uint64
}

// PolicyMaps are the kernel's compiled profiles and the scopes they apply to.
type PolicyMaps struct {
	scopes, paths, caps, ioUring, nets *ebpf.Map
}

// Policy returns the kernel's policy maps.
func (k *Kernel) Policy() *PolicyMaps {
	return &PolicyMaps{scopes: k.objs.Map(bpfobj.RecordMapScopePolicies), paths: k.objs.Map(bpfobj.RecordMapPathRules),
		caps: k.objs.Map(bpfobj.RecordMapCapRules), ioUring: k.objs.Map(bpfobj.RecordMapIoUringRules),
		nets: k.objs.Map(bpfobj.RecordMapNetRules)}
}

// ScopePolicy is what the kernel does for every container of a scope.
type ScopePolicy struct {
	Profile  uint32 // the compiled profile judged against
	Enforce  Hooks  // denied in the kernel when the profile does not allow them
	Suppress Hooks  // allowed events stay in the kernel: only news is reported
	// Collapse are the hooks whose repeats stay in the kernel while the
	// image is learned: an object is reported once per KernelConfig.LearnWindow,
	// with the count of its repeats (Open.Repeats, Connect.Repeats,
	// Capability.Repeats). Unix connects are each reported.
	Collapse Hooks
}

// ForgetLearned makes every object the kernel holds as reported to the
// learner news again (ScopePolicy.Collapse). Call it when events were lost
// on their way: the kernel cannot tell which of its reports never arrived.
func (k *Kernel) ForgetLearned() error {
	m := k.objs.Map(bpfobj.RecordMapLearnEpoch)
	var epoch uint64
	if err := m.Lookup(uint32(0), &epoch); err != nil {
		return fmt.Errorf("read the learn epoch: %w", err)
	}
	if err := m.Put(uint32(0), epoch+1); err != nil {
		return fmt.Errorf("advance the learn epoch: %w", err)
	}
	return nil
}

// SetScope points every container with this scope at pol. A policy that
// asks nothing of the kernel removes the scope.
func (p *PolicyMaps) SetScope(scope uint32, pol ScopePolicy) error {
	if pol.Enforce == 0 && pol.Suppress == 0 && pol.Collapse == 0 {
		return p.DeleteScope(scope)
	}
	v := bpfobj.RecordScopePolicy{Profile: pol.Profile, Enforce: uint32(pol.Enforce), Suppress: uint32(pol.Suppress), Collapse: uint32(pol.Collapse)}
	if err := p.scopes.Put(scope, v); err != nil {
		return fmt.Errorf("set the policy of scope %d: %w", scope, err)
	}
	return nil
}

// DeleteScope stops enforcing anything on a scope.
func (p *PolicyMaps) DeleteScope(scope uint32) error {
	if err := p.scopes.Delete(scope); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("stop enforcing scope %d: %w", scope, err)
	}
	return nil
}

// PutProfile loads a compiled profile under id.
func (p *PolicyMaps) PutProfile(id uint32, paths []PathRule, nets []NetRule, masks Masks) error {
	for _, r := range paths {
		if err := p.paths.Put(pathKey(id, r), r.Access); err != nil {
			return fmt.Errorf("load path rule of profile %d: %w", id, err)
		}
	}
	for _, r := range nets {
		if err := p.nets.Put(netKey(id, r), uint8(1)); err != nil {
			return fmt.Errorf("load network rule %v of profile %d: %w", r, id, err)
		}
	}
	if err := p.caps.Put(id, masks.Capabilities); err != nil {
		return fmt.Errorf("load capabilities of profile %d: %w", id, err)
	}
	if err := p.ioUring.Put(id, masks.IoUring); err != nil {
		return fmt.Errorf("load io_uring operations of profile %d: %w", id, err)
	}
	return nil
}

// DeleteProfile unloads a compiled profile; scopes must no longer use it.
func (p *PolicyMaps) DeleteProfile(id uint32, paths []PathRule, nets []NetRule) error {
	var errs []error
	for _, r := range paths {
		errs = append(errs, ignoreMissing(p.paths.Delete(pathKey(id, r))))
	}
	for _, r := range nets {
		errs = append(errs, ignoreMissing(p.nets.Delete(netKey(id, r))))
	}
	errs = append(errs, ignoreMissing(p.caps.Delete(id)), ignoreMissing(p.ioUring.Delete(id)))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unload profile %d: %w", id, err)
	}
	return nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

func pathKey(profile uint32, r PathRule) bpfobj.RecordPathRuleKey {
	return bpfobj.RecordPathRuleKey{Profile: profile, List: uint8(r.List), Match: uint8(r.Match), Hash: r.Hash}
}

// netKey places an address in the trie's IPv6 space (IPv4 mapped), after
// the 64 bits of profile, port and protocol that must match whole.
func netKey(profile uint32, r NetRule) bpfobj.RecordNetRuleKey {
	addr, bits := r.Prefix.Addr(), r.Prefix.Bits()
	if addr.Is4() {
		addr, bits = netip.AddrFrom16(addr.As16()), bits+96
	}
	return bpfobj.RecordNetRuleKey{Prefixlen: uint32(64 + bits), Profile: profile, Port: r.Port, Protocol: r.Protocol, Addr: addr.As16()}
}
