package profile

import "path"

// matcher is a profile compiled for Allows: one index per allowlist and the
// rule strings precomputed, so a check allocates nothing.
type matcher struct {
	exec      *pathIndex
	execRules []string
	// applets indexes the entries with an applet by appletPath.
	applets     *pathIndex
	appletRules []string
	files       *pathIndex
	fileRules   []string
	// image holds the image entries of files: they allow only opens of
	// image content (Observation.Image).
	image      *pathIndex
	imageRules []string
	unix       *pathIndex
	abstract   map[string]string
	unixRules  []string
	inet       *netIndex
	inetRules  []string
	caps       [MaxCapability + 1]string
	ioUring    map[IoUringOp]string
}

func compile(p *Profile) *matcher {
	m := &matcher{
		exec:     newPathIndex(),
		applets:  newPathIndex(),
		files:    newPathIndex(),
		image:    newPathIndex(),
		unix:     newPathIndex(),
		abstract: make(map[string]string),
		ioUring:  make(map[IoUringOp]string),
		inet:     newNetIndex(),
	}
	for _, e := range p.Spec.Executables {
		if e.As != "" {
			m.applets.insert(appletPath(e.Path, e.As), int32(len(m.appletRules)), execMask(e.Written))
			m.appletRules = append(m.appletRules, rule(ListExecutables, e))
			continue
		}
		m.exec.insert(e.Path, int32(len(m.execRules)), execMask(e.Written))
		m.execRules = append(m.execRules, rule(ListExecutables, e))
	}
	for _, e := range p.Spec.Files {
		if e.Image {
			m.image.insert(e.Path, int32(len(m.imageRules)), e.Access)
			m.imageRules = append(m.imageRules, rule(ListFiles, e))
			continue
		}
		m.files.insert(e.Path, int32(len(m.fileRules)), e.Access)
		m.fileRules = append(m.fileRules, rule(ListFiles, e))
	}
	for _, e := range p.Spec.Network {
		switch {
		case !e.IsUnix():
			m.inet.insert(int32(len(m.inetRules)), e)
			m.inetRules = append(m.inetRules, rule(ListNetwork, e))
		case isAbstract(e.Unix):
			m.abstract[e.Unix] = rule(ListNetwork, e)
		default:
			m.unix.insert(e.Unix, int32(len(m.unixRules)), 0)
			m.unixRules = append(m.unixRules, rule(ListNetwork, e))
		}
	}
	for _, e := range p.Spec.Capabilities {
		if e.Capability.Valid() {
			m.caps[e.Capability] = rule(ListCapabilities, e)
		}
	}
	for _, e := range p.Spec.IoUring {
		m.ioUring[e.Op] = rule(ListIoUring, e)
	}
	return m
}

func (p *Profile) matcher() *matcher {
	if m := p.compiled.Load(); m != nil {
		return m
	}
	m := compile(p)
	if p.compiled.CompareAndSwap(nil, m) {
		return m
	}
	return p.compiled.Load()
}

// Allows checks an observation against the profile. It returns whether the
// behaviour is allowed and the rule that decided: "<list>: <entry>" for the
// entry that allows it, or "no rule matched in <list>". An open with no
// access bits is checked as a read; an image entry allows only an open of
// image content (o.Image). Evidence fields of o are ignored.
func (p *Profile) Allows(o Observation) (bool, string) {
	m := p.matcher()
	switch o.Kind {
	case KindExec:
		return m.allowsExec(&o)
	case KindOpen:
		need := o.Access
		if need == 0 {
			need = AccessRead
		}
		ok, r := lookupPath(m.files, m.fileRules, o.Path, need, ListFiles)
		if !ok && o.Image {
			if imageOK, imageRule := lookupPath(m.image, m.imageRules, o.Path, need, ListFiles); imageOK {
				return true, imageRule
			}
		}
		return ok, r
	case KindConnect:
		if o.UnixPath != "" {
			if isAbstract(o.UnixPath) {
				r, ok := m.abstract[o.UnixPath]
				if !ok {
					return false, noRule(ListNetwork)
				}
				return true, r
			}
			if path.Clean(o.UnixPath) != o.UnixPath {
				// The address is the caller's text, not a resolved path:
				// a ".." in it could leave a directory the profile allows.
				return false, notClean
			}
			return lookupPath(m.unix, m.unixRules, o.UnixPath, 0, ListNetwork)
		}
		if id, ok := m.inet.lookup(o.Network); ok {
			return true, m.inetRules[id]
		}
		return false, noRule(ListNetwork)
	case KindCapability:
		if o.Capability.Valid() && m.caps[o.Capability] != "" {
			return true, m.caps[o.Capability]
		}
		return false, noRule(ListCapabilities)
	case KindIoUring:
		if r, ok := m.ioUring[o.IoUring]; ok {
			return true, r
		}
		return false, noRule(ListIoUring)
	}
	return false, "unknown observation kind " + o.Kind.String()
}

// allowsExec checks an exec against the entries without an applet, then
// those of its applet.
func (m *matcher) allowsExec(o *Observation) (bool, string) {
	need := execNeed(o.Written)
	ok, r := lookupPath(m.exec, m.execRules, o.Path, need, ListExecutables)
	if !ok && o.Applet != "" && r != notAbsolute {
		if id, found := m.applets.lookup(appletPath(path.Clean(o.Path), o.Applet), need); found {
			return true, m.appletRules[id]
		}
	}
	if !ok && o.Written && r == noRule(ListExecutables) {
		r = noWrittenRule
	}
	return ok, r
}

// noWrittenRule is the rule string for a written executable nothing allows:
// an entry of the image's file at its path does not.
const noWrittenRule = "no rule matched in " + ListExecutables + " for a file written at run time"

// notAbsolute is the rule string for a path Allows cannot check.
const notAbsolute = "no rule matched: not an absolute path"

// notClean is the rule string for a unix socket address that is not a
// clean path ("..", ".", "//" or a trailing "/" in it).
const notClean = "no rule matched: not a clean unix socket path"

func lookupPath(ix *pathIndex, rules []string, p string, need Access, list string) (bool, string) {
	if len(p) == 0 || p[0] != '/' {
		return false, notAbsolute
	}
	if id, ok := ix.lookup(path.Clean(p), need); ok {
		return true, rules[id]
	}
	return false, noRule(list)
}
