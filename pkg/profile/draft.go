package profile

import (
	"errors"
	"fmt"
	"path"
	"sync"
	"time"
)

// Draft is the profile of one image digest while it is being learned on a
// node: it folds Observations into the four allowlists, generalising paths
// and respecting Limits. A Draft is safe for concurrent use.
type Draft struct {
	mu      sync.Mutex
	lim     Limits
	image   string
	digest  string
	exec    *pathList
	applets *pathList // entries with an applet, by appletPath
	files   *pathList
	// imageFiles holds the image entries of files
	imageFiles *pathList
	unix       *pathList
	inet       *netList
	caps       [MaxCapability + 1]capSlot
	ioUring    map[IoUringOp]*Evidence
	learning   Learning
	// inheritedFrom: the draft learns the delta of a digest running on a
	// profile inherited from this Ref (see Inherit).
	inheritedFrom string
}

type capSlot struct {
	present  bool
	evidence Evidence
}

// NewDraft starts an empty draft for the image with the given digest.
func NewDraft(image, digest string, lim Limits) (*Draft, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, fmt.Errorf("new draft: %w", err)
	}
	return &Draft{
		lim:        lim.withDefaults(),
		image:      image,
		digest:     digest,
		exec:       newPathList(),
		applets:    newLiteralPathList(),
		files:      newPathList(),
		imageFiles: newPathList(),
		unix:       newPathList(),
		inet:       newNetList(),
		ioUring:    map[IoUringOp]*Evidence{},
	}, nil
}

// Digest is the image digest the draft learns.
func (d *Draft) Digest() string { return d.digest }

// Image is the human-readable image name.
func (d *Draft) Image() string { return d.image }

// LearnsDeltaOf records that the draft learns what its digest does beyond
// the profile it inherited (ref, see Ref), and reports whether that changed.
func (d *Draft) LearnsDeltaOf(ref string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := d.inheritedFrom != ref
	d.inheritedFrom = ref
	return changed
}

// Observe folds one observation into the draft. It reports whether the
// draft grew: a new entry, or new access bits on an existing one. An
// observation the draft cannot take because its list is full is counted as
// an incomplete reason and reported as not added. Malformed observations
// (relative path, unknown kind, capability or protocol) return an error and
// change nothing; the caller counts them.
func (d *Draft) Observe(o Observation) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var (
		added, full bool
		list        string
		err         error
	)
	t := normTime(o.Time)
	switch o.Kind {
	case KindExec:
		list = ListExecutables
		added, full, err = d.observeExec(&o, t)
	case KindOpen:
		list = ListFiles
		if o.Access == 0 || o.Access&^AccessReadWrite != 0 {
			return false, fmt.Errorf("observe open of %q: invalid access %d", o.Path, o.Access)
		}
		added, full, err = d.observeOpen(&o, t)
	case KindConnect:
		list = ListNetwork
		added, full, err = d.observeConnect(&o, t)
	case KindCapability:
		list = ListCapabilities
		added, err = d.observeCapability(&o, t)
	case KindIoUring:
		added, err = d.observeIoUring(&o, t)
	default:
		return false, fmt.Errorf("observe: unknown observation kind %d", o.Kind)
	}
	if err != nil {
		return false, err
	}
	d.learning.record(&o, t, added, d.lim.MaxLearningIDs)
	if full {
		d.learning.markIncomplete(listFullReason(list, d.lim.MaxEntries), 1)
	}
	return added, nil
}

func listFullReason(list string, max int) string {
	return fmt.Sprintf("%s list full (limit %d entries)", list, max)
}

// observeExec learns an exec of a multi-call binary as its applet, unless
// an entry without one allows it already; other execs by path.
func (d *Draft) observeExec(o *Observation, t time.Time) (added, full bool, err error) {
	n, mask := d.execLen(), execMask(o.Written)
	if o.Applet != "" && MultiCall(o.Path) && len(o.Path) > 0 && o.Path[0] == '/' {
		p := path.Clean(o.Path)
		if _, ok := d.exec.find(p, mask); !ok {
			if v := appletPath(p, o.Applet); generalizePath(v) == v {
				return d.observePath(d.applets, n, v, mask, o, t)
			}
		}
	}
	return d.observePath(d.exec, n, o.Path, mask, o, t)
}

func (d *Draft) execLen() int { return len(d.exec.entries) + len(d.applets.entries) }

// observePath is Observe for the path lists; n is the current size
// of the allowlist the path counts against.
func (d *Draft) observePath(l *pathList, n int, p string, acc Access, o *Observation, t time.Time) (added, full bool, err error) {
	if isAbstract(p) {
		if err := validateUnix(p); err != nil {
			return false, false, fmt.Errorf("observe %s %q: %w", o.Kind, p, err)
		}
	} else if p, err = cleanAbs(p); err != nil {
		return false, false, fmt.Errorf("observe %s: %w", o.Kind, err)
	}
	if id, ok := l.find(p, acc); ok {
		l.entries[id].Evidence.observe(o, t, d.lim.MaxEvidenceIDs)
		return false, false, nil
	}
	g := p
	if !isAbstract(p) && !l.literal {
		g = generalizePath(p)
	}
	created := o.Created && !isAbstract(p)
	if created {
		// In a directory files are created in, a new one widens its entry.
		if id, ok := l.byPath[createdDir(path.Dir(g))]; ok {
			g = l.entries[id].Path
		}
	}
	if id, ok := l.byPath[g]; ok {
		l.widen(id, acc)
		l.entries[id].Evidence.observe(o, t, d.lim.MaxEvidenceIDs)
		return true, false, nil
	}
	if n >= d.lim.MaxEntries {
		return false, true, nil
	}
	e := FileEntry{Path: g, Access: acc}
	e.Evidence.observe(o, t, d.lim.MaxEvidenceIDs)
	if l.add(e, d.lim.CollapseThreshold) {
		l.collapse(d.lim)
	}
	if created {
		l.noteCreated(g, d.lim)
	}
	return true, false, nil
}

// filesLen is the size of the files list: plain and image entries.
func (d *Draft) filesLen() int { return len(d.files.entries) + len(d.imageFiles.entries) }

// observeOpen is Observe for opens: a read of an image file becomes (or is
// allowed by) the image entry of its directory, unless a plain entry
// allows it already; anything else is a plain entry.
func (d *Draft) observeOpen(o *Observation, t time.Time) (added, full bool, err error) {
	if !o.Image || o.Access != AccessRead {
		return d.observePath(d.files, d.filesLen(), o.Path, o.Access, o, t)
	}
	p, err := cleanAbs(o.Path)
	if err != nil {
		return false, false, fmt.Errorf("observe open: %w", err)
	}
	pattern, ok := imageEntryFor(p)
	if _, plain := d.files.find(p, AccessRead); plain || !ok {
		return d.observePath(d.files, d.filesLen(), p, o.Access, o, t)
	}
	if id, ok := d.imageFiles.find(p, AccessRead); ok {
		d.imageFiles.entries[id].Evidence.observe(o, t, d.lim.MaxEvidenceIDs)
		return false, false, nil
	}
	if d.filesLen() >= d.lim.MaxEntries {
		return false, true, nil
	}
	e := FileEntry{Path: pattern, Access: AccessRead, Image: true}
	e.Evidence.observe(o, t, d.lim.MaxEvidenceIDs)
	// An image entry is a whole subtree already: it is never collapsed,
	// and folds the entries of its subdirectories.
	d.imageFiles.add(e, d.lim.CollapseThreshold)
	d.imageFiles.fold(d.lim)
	return true, false, nil
}

func (d *Draft) networkLen() int { return len(d.inet.entries) + len(d.unix.entries) }

var errNoDestination = errors.New("observe connect: neither a unix path nor a valid address")

func (d *Draft) observeConnect(o *Observation, t time.Time) (added, full bool, err error) {
	if o.UnixPath != "" {
		return d.observePath(d.unix, d.networkLen(), o.UnixPath, 0, o, t)
	}
	dst := o.Network
	if !dst.Addr.IsValid() {
		return false, false, errNoDestination
	}
	if dst.Protocol != TCP && dst.Protocol != UDP {
		return false, false, fmt.Errorf("observe connect to %s: unknown protocol %d", dst.Addr, dst.Protocol)
	}
	if id, ok := d.inet.ix.lookup(dst); ok {
		d.inet.entries[id].Evidence.observe(o, t, d.lim.MaxEvidenceIDs)
		return false, false, nil
	}
	if d.networkLen() >= d.lim.MaxEntries {
		return false, true, nil
	}
	e := hostEntry(dst)
	e.Evidence.observe(o, t, d.lim.MaxEvidenceIDs)
	if d.inet.add(e, d.lim.NetCollapseThreshold) {
		d.inet.collapse(d.lim)
	}
	return true, false, nil
}

func (d *Draft) observeCapability(o *Observation, t time.Time) (bool, error) {
	if !o.Capability.Valid() {
		return false, fmt.Errorf("observe capability: unknown capability number %d", o.Capability)
	}
	slot := &d.caps[o.Capability]
	added := !slot.present
	slot.present = true
	slot.evidence.observe(o, t, d.lim.MaxEvidenceIDs)
	return added, nil
}

func (d *Draft) observeIoUring(o *Observation, t time.Time) (bool, error) {
	if !o.IoUring.Valid() {
		return false, fmt.Errorf("observe io_uring: unknown operation %s", o.IoUring)
	}
	ev, ok := d.ioUring[o.IoUring]
	if !ok {
		ev = &Evidence{}
		d.ioUring[o.IoUring] = ev
	}
	ev.observe(o, t, d.lim.MaxEvidenceIDs)
	return !ok, nil
}

// MarkIncomplete records that count events were lost or could not be
// attributed while the draft was learning, so it may lack behaviour the
// image has. The reason is kept (summed per reason) and serialised.
func (d *Draft) MarkIncomplete(reason string, count uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.learning.markIncomplete(reason, count)
}

// Stability measures the draft's learning run as of now.
func (d *Draft) Stability(now time.Time) Stability {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.execLen() + d.filesLen() + d.networkLen() + len(d.ioUring)
	for _, c := range d.caps {
		if c.present {
			n++
		}
	}
	return d.learning.stability(n, now)
}
