package store

import (
	"slices"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Filter selects alerts. Values within a field are alternatives; every
// non-empty field must match. Stored queries and live watches use the same
// Filter, so they select the same alerts.
type Filter struct {
	Nodes      []string
	Namespaces []string
	// Images matches the image name or the image digest.
	Images []string
	Kinds  []vigilv1.Kind
	// Since and Until bound the alert time, inclusive and exclusive; zero
	// values do not bound.
	Since, Until time.Time
}

// FilterFromProto converts the API's filter.
func FilterFromProto(f *vigilv1.AlertFilter) Filter {
	if f == nil {
		return Filter{}
	}
	out := Filter{
		Nodes:      f.GetNodes(),
		Namespaces: f.GetNamespaces(),
		Images:     f.GetImages(),
		Kinds:      f.GetKinds(),
	}
	if f.GetSince() != nil {
		out.Since = f.GetSince().AsTime()
	}
	if f.GetUntil() != nil {
		out.Until = f.GetUntil().AsTime()
	}
	return out
}

// Matches reports whether a matches the filter.
func (f Filter) Matches(a *vigilv1.Alert) bool {
	c := a.GetContainer()
	if len(f.Nodes) > 0 && !slices.Contains(f.Nodes, a.GetNode()) {
		return false
	}
	if len(f.Namespaces) > 0 && !slices.Contains(f.Namespaces, c.GetNamespace()) {
		return false
	}
	if len(f.Images) > 0 && !slices.Contains(f.Images, c.GetImage()) && !slices.Contains(f.Images, c.GetImageDigest()) {
		return false
	}
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, a.GetKind()) {
		return false
	}
	t := a.GetTime().AsTime()
	if !f.Since.IsZero() && t.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !t.Before(f.Until) {
		return false
	}
	return true
}
