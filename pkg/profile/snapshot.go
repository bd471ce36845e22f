package profile

// Profile returns a snapshot of the draft as a profile in learn mode, in
// canonical order. The snapshot shares nothing with the draft.
func (d *Draft) Profile() *Profile {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &Profile{Metadata: Metadata{
		Image:         d.image,
		Digest:        d.digest,
		Mode:          ModeLearn,
		Learning:      d.learning.clone(),
		InheritedFrom: d.inheritedFrom,
	}}
	for _, e := range d.exec.entries {
		p.Spec.Executables = append(p.Spec.Executables, ExecEntry{Path: e.Path, Written: e.Access&execWritten != 0, Evidence: e.Evidence.clone()})
	}
	for _, e := range d.applets.entries {
		x := ExecEntry{Written: e.Access&execWritten != 0, Evidence: e.Evidence.clone()}
		x.Path, x.As = splitAppletPath(e.Path)
		p.Spec.Executables = append(p.Spec.Executables, x)
	}
	for _, l := range []*pathList{d.files, d.imageFiles} {
		for _, e := range l.entries {
			e.Evidence = e.Evidence.clone()
			p.Spec.Files = append(p.Spec.Files, e)
		}
	}
	for _, e := range d.inet.entries {
		e.Evidence = e.Evidence.clone()
		p.Spec.Network = append(p.Spec.Network, e)
	}
	for _, e := range d.unix.entries {
		p.Spec.Network = append(p.Spec.Network, NetworkEntry{Unix: e.Path, Evidence: e.Evidence.clone()})
	}
	for c, s := range d.caps {
		if s.present {
			p.Spec.Capabilities = append(p.Spec.Capabilities, CapabilityEntry{Capability: Capability(c), Evidence: s.evidence.clone()})
		}
	}
	for op, ev := range d.ioUring {
		p.Spec.IoUring = append(p.Spec.IoUring, IoUringEntry{Op: op, Evidence: ev.clone()})
	}
	p.Spec.Sort()
	return p
}

// absorb adds every entry of p to the draft, merging evidence (and access
// bits) into entries with the same pattern, without applying limits or
// generalisation; normalize does that afterwards. Parts that inherited from
// different parents (one promoted in between) keep the greatest reference,
// whatever their order.
func (d *Draft) absorb(p *Profile) {
	d.inheritedFrom = max(d.inheritedFrom, p.Metadata.InheritedFrom)
	d.learning.merge(p.Metadata.Learning, d.lim.MaxLearningIDs)
	for _, e := range p.Spec.Executables {
		l, name := d.exec, e.Path
		if e.As != "" {
			l, name = d.applets, appletPath(e.Path, e.As)
		}
		d.absorbPath(l, FileEntry{Path: name, Access: execMask(e.Written), Evidence: e.Evidence})
	}
	for _, e := range p.Spec.Files {
		if e.Image {
			d.absorbPath(d.imageFiles, e)
			continue
		}
		d.absorbPath(d.files, e)
	}
	for _, e := range p.Spec.Network {
		if e.IsUnix() {
			d.absorbPath(d.unix, FileEntry{Path: e.Unix, Evidence: e.Evidence})
			continue
		}
		if id, ok := d.inet.byKey[keyOf(e)]; ok {
			d.inet.entries[id].Evidence.merge(e.Evidence, d.lim.MaxEvidenceIDs)
			continue
		}
		e.Evidence = e.Evidence.clone()
		d.inet.add(e, d.lim.NetCollapseThreshold)
	}
	for _, e := range p.Spec.Capabilities {
		slot := &d.caps[e.Capability]
		slot.present = true
		slot.evidence.merge(e.Evidence, d.lim.MaxEvidenceIDs)
	}
	for _, e := range p.Spec.IoUring {
		ev, ok := d.ioUring[e.Op]
		if !ok {
			ev = &Evidence{}
			d.ioUring[e.Op] = ev
		}
		ev.merge(e.Evidence, d.lim.MaxEvidenceIDs)
	}
}

func (d *Draft) absorbPath(l *pathList, e FileEntry) {
	if id, ok := l.byPath[e.Path]; ok {
		l.widen(id, e.Access)
		l.entries[id].Evidence.merge(e.Evidence, d.lim.MaxEvidenceIDs)
		return
	}
	e.Evidence = e.Evidence.clone()
	l.add(e, d.lim.CollapseThreshold)
}
