package collector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// A node's draft says what the node claims its containers did, evidence
// included, and one node's word must not widen the profile of an image
// other nodes run too (a stolen node certificate would otherwise teach
// every node's enforcement to allow a shell). So when the drafts of a
// digest are merged:
//   - every entry of a node's draft is stamped with that node (the name of
//     the certificate it came over, its key in the store), whatever nodes
//     its evidence claimed;
//   - an entry is merged only if the drafts of enough nodes allow it on
//     their own (need: Options.DraftMinNodes, however few nodes have a
//     draft); what a node saw alone is held back and shown by DiffProfiles;
//   - each entry of the merged version names, in its evidence, the nodes
//     that support it: whose drafts allow it or were merged into it.

// nodeDraft is one node's draft, stamped.
type nodeDraft struct {
	node string
	doc  *profile.Profile
}

// heldEntry is an entry of some drafts that too few nodes support.
type heldEntry struct {
	list, entry string
	nodes       []string
}

func (h heldEntry) String() string {
	return fmt.Sprintf("%s: %s (held back: %s)", h.list, h.entry, nodeCount(h.nodes, false))
}

// nodeCount spells a set of supporting nodes: "2 nodes: a, b"; capped says
// the set is a lower bound.
func nodeCount(nodes []string, capped bool) string {
	n := fmt.Sprint(len(nodes))
	if capped {
		n += "+"
	}
	noun := "nodes"
	if len(nodes) == 1 && !capped {
		noun = "node"
	}
	return fmt.Sprintf("%s %s: %s", n, noun, strings.Join(nodes, ", "))
}

// stamp makes a draft's evidence name only the node it came from.
func stamp(doc *profile.Profile, node string) {
	only := func() profile.IDSet { return profile.IDSet{IDs: []string{node}} }
	doc.Metadata.Learning.Nodes = only()
	for i := range doc.Spec.Executables {
		doc.Spec.Executables[i].Evidence.Nodes = only()
	}
	for i := range doc.Spec.Files {
		doc.Spec.Files[i].Evidence.Nodes = only()
	}
	for i := range doc.Spec.Network {
		doc.Spec.Network[i].Evidence.Nodes = only()
	}
	for i := range doc.Spec.Capabilities {
		doc.Spec.Capabilities[i].Evidence.Nodes = only()
	}
	for i := range doc.Spec.IoUring {
		doc.Spec.IoUring[i].Evidence.Nodes = only()
	}
}

// supporters are the nodes whose drafts allow everything e allows, sorted.
func supporters[E any](drafts []nodeDraft, e E, covers func(*profile.Profile, E) bool) []string {
	var nodes []string
	for _, d := range drafts {
		if covers(d.doc, e) {
			nodes = append(nodes, d.node)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// keepSupported returns the entries at least need drafts support, adding the
// others to held (by list and entry).
func keepSupported[E fmt.Stringer](list string, entries []E, drafts []nodeDraft, need int,
	covers func(*profile.Profile, E) bool, held map[string]heldEntry) []E {
	var kept []E
	for _, e := range entries {
		nodes := supporters(drafts, e, covers)
		if len(nodes) >= need {
			kept = append(kept, e)
			continue
		}
		held[list+": "+e.String()] = heldEntry{list: list, entry: e.String(), nodes: nodes}
	}
	return kept
}

// supported returns each draft with only the entries need drafts support,
// and the entries held back, sorted.
func supported(drafts []nodeDraft, need int) ([]*profile.Profile, []heldEntry) {
	held := map[string]heldEntry{}
	parts := make([]*profile.Profile, len(drafts))
	for i, d := range drafts {
		p := d.doc.Clone()
		p.Spec.Executables = keepSupported(profile.ListExecutables, p.Spec.Executables, drafts, need, (*profile.Profile).CoversExec, held)
		p.Spec.Files = keepSupported(profile.ListFiles, p.Spec.Files, drafts, need, (*profile.Profile).CoversFile, held)
		p.Spec.Network = keepSupported(profile.ListNetwork, p.Spec.Network, drafts, need, (*profile.Profile).CoversNetwork, held)
		p.Spec.Capabilities = keepSupported(profile.ListCapabilities, p.Spec.Capabilities, drafts, need, (*profile.Profile).CoversCapability, held)
		p.Spec.IoUring = keepSupported(profile.ListIoUring, p.Spec.IoUring, drafts, need, (*profile.Profile).CoversIoUring, held)
		parts[i] = p
	}
	out := make([]heldEntry, 0, len(held))
	for _, h := range held {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b heldEntry) int { return cmp.Or(cmp.Compare(a.list, b.list), cmp.Compare(a.entry, b.entry)) })
	return parts, out
}

// markSupport sets the evidence nodes of every entry of merged to the nodes
// that support it: those merged into it and those whose drafts allow it,
// at most maxIDs of them (the smallest names; Capped past that).
func markSupport(merged *profile.Profile, drafts []nodeDraft, maxIDs int) {
	set := func(ev *profile.Evidence, nodes []string) {
		nodes = slices.Compact(slices.Sorted(slices.Values(append(nodes, ev.Nodes.IDs...))))
		capped := ev.Nodes.Capped || len(nodes) > maxIDs
		ev.Nodes = profile.IDSet{IDs: nodes[:min(len(nodes), maxIDs)], Capped: capped}
	}
	for i, e := range merged.Spec.Executables {
		set(&merged.Spec.Executables[i].Evidence, supporters(drafts, e, (*profile.Profile).CoversExec))
	}
	for i, e := range merged.Spec.Files {
		set(&merged.Spec.Files[i].Evidence, supporters(drafts, e, (*profile.Profile).CoversFile))
	}
	for i, e := range merged.Spec.Network {
		set(&merged.Spec.Network[i].Evidence, supporters(drafts, e, (*profile.Profile).CoversNetwork))
	}
	for i, e := range merged.Spec.Capabilities {
		set(&merged.Spec.Capabilities[i].Evidence, supporters(drafts, e, (*profile.Profile).CoversCapability))
	}
	for i, e := range merged.Spec.IoUring {
		set(&merged.Spec.IoUring[i].Evidence, supporters(drafts, e, (*profile.Profile).CoversIoUring))
	}
}

// supportOf maps each entry of doc ("list: entry") to its supporting nodes,
// as its evidence names them.
func supportOf(doc *profile.Profile) map[string]string {
	out := map[string]string{}
	add := func(list string, e fmt.Stringer, ev profile.Evidence) {
		out[list+": "+e.String()] = nodeCount(ev.Nodes.IDs, ev.Nodes.Capped)
	}
	for _, e := range doc.Spec.Executables {
		add(profile.ListExecutables, e, e.Evidence)
	}
	for _, e := range doc.Spec.Files {
		add(profile.ListFiles, e, e.Evidence)
	}
	for _, e := range doc.Spec.Network {
		add(profile.ListNetwork, e, e.Evidence)
	}
	for _, e := range doc.Spec.Capabilities {
		add(profile.ListCapabilities, e, e.Evidence)
	}
	for _, e := range doc.Spec.IoUring {
		add(profile.ListIoUring, e, e.Evidence)
	}
	return out
}
