package profile

import "slices"

// CoversExec reports whether p allows executing every path e allows: one of
// p's executables is at least as wide a pattern, of at least e's origins,
// for every applet or e's. The collector uses it to count the nodes whose
// own drafts support an entry of a merged profile.
func (p *Profile) CoversExec(e ExecEntry) bool {
	m, need := p.matcher(), execMask(e.Written)
	if coversPath(m.exec, p.Spec.Executables, func(x ExecEntry) (string, Access) {
		if x.As != "" {
			return "", 0
		}
		return x.Path, execMask(x.Written)
	}, e.Path, need) {
		return true
	}
	if e.As == "" {
		return false
	}
	_, ok := m.applets.lookup(appletPath(e.Path, e.As), need)
	return ok
}

// CoversFile reports whether p allows opening every path e allows with e's
// access: one of p's files is at least as wide, with at least that access.
// Only an image entry's files can be covered by another image entry.
func (p *Profile) CoversFile(e FileEntry) bool {
	m := p.matcher()
	of := func(image bool) func(FileEntry) (string, Access) {
		return func(x FileEntry) (string, Access) {
			if x.Image != image {
				return "", 0
			}
			return x.Path, x.Access
		}
	}
	if coversPath(m.files, p.Spec.Files, of(false), e.Path, e.Access) {
		return true
	}
	return e.Image && coversPath(m.image, p.Spec.Files, of(true), e.Path, e.Access)
}

// CoversNetwork reports whether p allows every connect e allows: one of p's
// network entries is at least as wide (prefix, ports, protocol; a unix
// path pattern; the same abstract socket).
func (p *Profile) CoversNetwork(e NetworkEntry) bool {
	switch {
	case e.IsUnix() && isAbstract(e.Unix):
		return slices.ContainsFunc(p.Spec.Network, func(x NetworkEntry) bool { return x.Unix == e.Unix })
	case e.IsUnix():
		return coversPath(p.matcher().unix, p.Spec.Network, func(x NetworkEntry) (string, Access) {
			if !x.IsUnix() || isAbstract(x.Unix) {
				return "", 0
			}
			return x.Unix, 0
		}, e.Unix, 0)
	}
	return slices.ContainsFunc(p.Spec.Network, func(x NetworkEntry) bool { return !x.IsUnix() && netCovers(x, e) })
}

// CoversCapability reports whether p allows e's capability.
func (p *Profile) CoversCapability(e CapabilityEntry) bool {
	return slices.ContainsFunc(p.Spec.Capabilities, func(x CapabilityEntry) bool { return x.Capability == e.Capability })
}

// CoversIoUring reports whether p allows e's io_uring operation.
func (p *Profile) CoversIoUring(e IoUringEntry) bool {
	return slices.ContainsFunc(p.Spec.IoUring, func(x IoUringEntry) bool { return x.Op == e.Op })
}

// coversPath reports whether an entry of a path list (indexed in ix; each
// entry's pattern and access given by of, "" for entries of another kind)
// matches every path pattern does, granting need. A pattern looked up as a
// path is matched as if its wildcards were names: right for "*", which only
// a "*" or "**" of the list matches, but a trailing "**" would be taken by
// a "*" of the list, so such patterns are compared by subsumption.
func coversPath[E any](ix *pathIndex, entries []E, of func(E) (string, Access), pattern string, need Access) bool {
	comps := components(pattern)
	if len(comps) == 0 || comps[len(comps)-1] != wildAny {
		_, ok := ix.lookup(pattern, need)
		return ok
	}
	return slices.ContainsFunc(entries, func(x E) bool {
		path, access := of(x)
		return path != "" && access&need == need && subsumesComps(components(path), comps)
	})
}
