package profile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Merge combines drafts of one image digest, learned on several nodes, into
// one profile: entries with the same pattern merge their evidence (first
// seen is the earliest, last seen the latest, counts add up, containers and
// nodes are unioned), then generalisation and limits are applied to the
// union, and entries made redundant by a wider one fold into it. The result
// does not depend on the order of parts. Its mode is the parts' common mode
// (learn if they differ) and its version the highest.
func Merge(lim Limits, parts ...*Profile) (*Profile, error) {
	if len(parts) == 0 {
		return nil, errors.New("merge profiles: nothing to merge")
	}
	digest, image := parts[0].Metadata.Digest, ""
	mode, version := parts[0].Metadata.Mode, int64(0)
	for _, p := range parts {
		if p.Metadata.Digest != digest {
			return nil, fmt.Errorf("merge profiles: digests differ: %s and %s", digest, p.Metadata.Digest)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("merge profiles: %w", err)
		}
		if img := p.Metadata.Image; img != "" && (image == "" || img < image) {
			image = img
		}
		if p.Metadata.Mode != mode {
			mode = ModeLearn
		}
		version = max(version, p.Metadata.Version)
	}
	d, err := NewDraft(image, digest, lim)
	if err != nil {
		return nil, fmt.Errorf("merge profiles: %w", err)
	}
	for _, p := range parts {
		d.absorb(p)
	}
	d.normalize()
	out := d.Profile()
	out.Metadata.Mode, out.Metadata.Version = mode, version
	return out, nil
}

// DraftFromProfile resumes learning from a saved draft (or starts
// relearning from a profile): the draft holds p's entries and learning run,
// normalised under lim.
func DraftFromProfile(p *Profile, lim Limits) (*Draft, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("draft from profile: %w", err)
	}
	d, err := NewDraft(p.Metadata.Image, p.Metadata.Digest, lim)
	if err != nil {
		return nil, fmt.Errorf("draft from profile: %w", err)
	}
	d.absorb(p)
	d.normalize()
	return d, nil
}

// normalize applies collapsing, folding of redundant entries and the
// per-list limits to a draft built by absorb.
func (d *Draft) normalize() {
	for _, l := range []*pathList{d.exec, d.applets, d.files, d.unix} {
		l.rebuild(l.entries, d.lim)
		l.collapse(d.lim)
		l.fold(d.lim)
	}
	d.imageFiles.rebuild(d.imageFiles.entries, d.lim)
	d.imageFiles.fold(d.lim)
	d.inet.rebuild(d.inet.entries, d.lim)
	d.inet.collapse(d.lim)
	d.inet.fold(d.lim)
	d.trimPaths(d.exec, ListExecutables, d.lim.MaxEntries)
	d.trimPaths(d.applets, ListExecutables, d.lim.MaxEntries-len(d.exec.entries))
	d.trimPaths(d.imageFiles, ListFiles, d.lim.MaxEntries)
	d.trimPaths(d.files, ListFiles, d.lim.MaxEntries-len(d.imageFiles.entries))
	d.trimNetwork()
}

// evidenceCount is what an entry dropped at a limit costs: its observations,
// at least one.
func evidenceCount(e Evidence) uint64 { return max(e.Count, 1) }

// keepBusiest sorts entries by evidence count (most first, then canonical
// order) and splits them at max, returning what is kept and the number of
// observations dropped.
func keepBusiest[E any](entries []E, max int, ev func(E) Evidence, canon func(a, b E) int) ([]E, uint64) {
	if len(entries) <= max {
		return entries, 0
	}
	slices.SortStableFunc(entries, func(a, b E) int {
		return cmp.Or(cmp.Compare(ev(b).Count, ev(a).Count), canon(a, b))
	})
	var dropped uint64
	for _, e := range entries[max:] {
		dropped += evidenceCount(ev(e))
	}
	return entries[:max], dropped
}

// trimPaths keeps the max busiest entries of l, which counts against list.
func (d *Draft) trimPaths(l *pathList, list string, max int) {
	kept, dropped := keepBusiest(l.entries, max,
		func(e FileEntry) Evidence { return e.Evidence },
		func(a, b FileEntry) int { return cmp.Compare(a.Path, b.Path) })
	if dropped == 0 {
		return
	}
	l.rebuild(kept, d.lim)
	d.learning.markIncomplete(listFullReason(list, d.lim.MaxEntries), dropped)
}

func (d *Draft) trimNetwork() {
	all := slices.Clone(d.inet.entries)
	for _, e := range d.unix.entries {
		all = append(all, NetworkEntry{Unix: e.Path, Evidence: e.Evidence})
	}
	kept, dropped := keepBusiest(all, d.lim.MaxEntries,
		func(e NetworkEntry) Evidence { return e.Evidence }, compareNetwork)
	if dropped == 0 {
		return
	}
	var inet []NetworkEntry
	var unix []FileEntry
	for _, e := range kept {
		if e.IsUnix() {
			unix = append(unix, FileEntry{Path: e.Unix, Evidence: e.Evidence})
		} else {
			inet = append(inet, e)
		}
	}
	d.inet.rebuild(inet, d.lim)
	d.unix.rebuild(unix, d.lim)
	d.learning.markIncomplete(listFullReason(ListNetwork, d.lim.MaxEntries), dropped)
}
