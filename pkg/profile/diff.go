package profile

import (
	"fmt"
	"slices"

	"github.com/vigil-dev/vigil/pkg/textdiff"
)

// Diff is what changed from one profile to another: entries added and
// removed per allowlist (evidence ignored), mode and version changes, and a
// unified diff of the canonical YAML for a person to read.
type Diff struct {
	FromMode, ToMode       Mode
	FromVersion, ToVersion int64
	// Lists holds one item per allowlist that changed, in the order
	// executables, files, network, capabilities, ioUring.
	Lists []ListDiff
	// Text is a unified diff of the two canonical documents ("" when they
	// are byte-identical).
	Text string
}

// ListDiff names the entries of one allowlist that were added or removed,
// each as in rule strings (e.g. "/etc/passwd (read)"), sorted. A file whose
// access changed appears as removed with the old access and added with the
// new one.
type ListDiff struct {
	List    string
	Added   []string
	Removed []string
}

// Empty reports whether the two profiles allow the same things in the same
// mode (evidence may still differ; see Text).
func (d Diff) Empty() bool { return len(d.Lists) == 0 && d.FromMode == d.ToMode }

// Compare computes the diff from profile a to profile b. Names label the
// two sides of the text diff (file names or "old"/"new").
func Compare(aName string, a *Profile, bName string, b *Profile) (Diff, error) {
	d := Diff{FromMode: a.Metadata.Mode, ToMode: b.Metadata.Mode, FromVersion: a.Metadata.Version, ToVersion: b.Metadata.Version}
	lists := []struct {
		name string
		a, b []string
	}{
		{ListExecutables, entryNames(a.Spec.Executables), entryNames(b.Spec.Executables)},
		{ListFiles, entryNames(a.Spec.Files), entryNames(b.Spec.Files)},
		{ListNetwork, entryNames(a.Spec.Network), entryNames(b.Spec.Network)},
		{ListCapabilities, entryNames(a.Spec.Capabilities), entryNames(b.Spec.Capabilities)},
		{ListIoUring, entryNames(a.Spec.IoUring), entryNames(b.Spec.IoUring)},
	}
	for _, l := range lists {
		ld := ListDiff{List: l.name, Added: minus(l.b, l.a), Removed: minus(l.a, l.b)}
		if len(ld.Added) > 0 || len(ld.Removed) > 0 {
			d.Lists = append(d.Lists, ld)
		}
	}
	ya, err := Encode(a)
	if err != nil {
		return Diff{}, fmt.Errorf("diff profiles: %w", err)
	}
	yb, err := Encode(b)
	if err != nil {
		return Diff{}, fmt.Errorf("diff profiles: %w", err)
	}
	d.Text = textdiff.Unified(aName, bName, ya, yb)
	return d, nil
}

func entryNames[E fmt.Stringer](entries []E) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.String()
	}
	slices.Sort(out)
	return out
}

// minus returns the sorted elements of a that are not in b (both sorted).
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
	}
	return out
}
