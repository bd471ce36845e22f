package profile

// Limits bound how large a draft can grow. The zero value of a field means
// its default (DefaultLimits).
type Limits struct {
	// MaxEntries caps each of the four allowlists. At the cap new behaviour
	// is not added; the draft is marked incomplete with a reason naming the
	// list and counting the observations left out.
	MaxEntries int
	// CollapseThreshold is how many distinct children one directory may have
	// in a path list before they are collapsed into dir/* (temp files).
	CollapseThreshold int
	// CreateThreshold is how many distinct files a container may create in
	// one directory before the files created there are learned as dir/*
	// (created.go).
	CreateThreshold int
	// NetCollapseThreshold is how many distinct hosts of one /24 (IPv4) or
	// /64 (IPv6), on one port and protocol, may be listed before they are
	// collapsed into that prefix (pods and services that come and go).
	NetCollapseThreshold int
	// MaxEvidenceIDs caps the container and node ids kept per entry.
	MaxEvidenceIDs int
	// MaxLearningIDs caps the container and node ids kept for the whole
	// learning run (the stability measure "containers observed").
	MaxLearningIDs int
}

// DefaultLimits are sized for images that do a few hundred distinct things:
// a profile stays well under a megabyte of YAML.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:           2048,
		CollapseThreshold:    64,
		CreateThreshold:      3,
		NetCollapseThreshold: 16,
		MaxEvidenceIDs:       8,
		MaxLearningIDs:       256,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.CollapseThreshold <= 0 {
		l.CollapseThreshold = d.CollapseThreshold
	}
	if l.CreateThreshold <= 0 {
		l.CreateThreshold = d.CreateThreshold
	}
	if l.NetCollapseThreshold <= 0 {
		l.NetCollapseThreshold = d.NetCollapseThreshold
	}
	if l.MaxEvidenceIDs <= 0 {
		l.MaxEvidenceIDs = d.MaxEvidenceIDs
	}
	if l.MaxLearningIDs <= 0 {
		l.MaxLearningIDs = d.MaxLearningIDs
	}
	return l
}
