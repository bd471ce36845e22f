package profile

import (
	"cmp"
	"slices"
	"strings"
)

// pathList is a mutable list of path entries (executables, files or unix
// sockets) with its lookup index and the per-directory child counts that
// drive collapsing. Executable entries hold their origins as access bits
// (execMask); unix entries have Access 0.
type pathList struct {
	// literal: entries are exact names, never generalised or collapsed
	// (a multi-call binary's applets: allowing some must not allow all).
	literal  bool
	entries  []FileEntry
	byPath   map[string]int32
	ix       *pathIndex
	children map[string]map[string]struct{}
	// created holds, per directory, the names files were created under;
	// createdIn, per directory, its subdirectories that became dir/* by
	// those (created.go). Unlike children, they survive rebuilds: they
	// record what was seen, not what the entries are.
	created   map[string]map[string]struct{}
	createdIn map[string]map[string]struct{}
}

func newPathList() *pathList {
	return &pathList{
		byPath:    make(map[string]int32),
		ix:        newPathIndex(),
		children:  make(map[string]map[string]struct{}),
		created:   make(map[string]map[string]struct{}),
		createdIn: make(map[string]map[string]struct{}),
	}
}

// newLiteralPathList is a pathList whose entries stay as learned.
func newLiteralPathList() *pathList {
	l := newPathList()
	l.literal = true
	return l
}

// isAbstract reports whether a unix socket name is in the abstract namespace.
func isAbstract(name string) bool { return strings.HasPrefix(name, "@") }

// find returns the entry that already allows p with need.
func (l *pathList) find(p string, need Access) (int32, bool) {
	if isAbstract(p) {
		id, ok := l.byPath[p]
		return id, ok
	}
	return l.ix.lookup(p, need)
}

// add appends a new entry (its pattern not yet present) and reports whether
// a directory passed threshold distinct children because of it.
func (l *pathList) add(e FileEntry, threshold int) (overflow bool) {
	id := int32(len(l.entries))
	l.entries = append(l.entries, e)
	l.byPath[e.Path] = id
	if isAbstract(e.Path) {
		return false
	}
	l.ix.insert(e.Path, id, e.Access)
	return l.countChildren(e.Path, threshold)
}

// widen adds access bits to an existing entry.
func (l *pathList) widen(id int32, a Access) {
	l.entries[id].Access |= a
	if !isAbstract(l.entries[id].Path) {
		l.ix.setMask(id, l.entries[id].Access)
	}
}

// countChildren records pattern under each of its ancestor directories
// (except the root) and reports whether one now has more than threshold
// distinct children.
func (l *pathList) countChildren(pattern string, threshold int) bool {
	comps := components(pattern)
	over := false
	dir := ""
	for depth := 1; depth < len(comps); depth++ {
		dir += "/" + comps[depth-1]
		set := l.children[dir]
		if set == nil {
			set = make(map[string]struct{})
			l.children[dir] = set
		}
		set[comps[depth]] = struct{}{}
		over = over || len(set) > threshold
	}
	return over
}

// collapse widens every directory with more than lim.CollapseThreshold
// distinct children, shallowest first, until none is left, and rebuilds the
// list. It reports whether anything changed.
func (l *pathList) collapse(lim Limits) bool {
	if l.literal {
		return false
	}
	changed := false
	for {
		dir := l.overfullDir(lim.CollapseThreshold)
		if dir == "" {
			return changed
		}
		changed = true
		dirComps := components(dir)
		next := make([]FileEntry, 0, len(l.entries))
		for _, e := range l.entries {
			if !isAbstract(e.Path) {
				comps := components(e.Path)
				if collapseAt(comps, dirComps) {
					e.Path = joinComponents(comps)
				}
			}
			next = append(next, e)
		}
		l.rebuild(next, lim)
	}
}

// overfullDir returns the shallowest (then smallest) directory with more
// than threshold children, or "".
func (l *pathList) overfullDir(threshold int) string {
	best := ""
	for dir, set := range l.children {
		if len(set) <= threshold {
			continue
		}
		if best == "" || cmp.Or(cmp.Compare(strings.Count(dir, "/"), strings.Count(best, "/")), cmp.Compare(dir, best)) < 0 {
			best = dir
		}
	}
	return best
}

// rebuild replaces the entries, merging those with equal patterns (access
// bits unioned, evidence merged), in canonical order.
func (l *pathList) rebuild(entries []FileEntry, lim Limits) {
	slices.SortStableFunc(entries, func(a, b FileEntry) int { return cmp.Compare(a.Path, b.Path) })
	merged := entries[:0]
	for _, e := range entries {
		if n := len(merged); n > 0 && merged[n-1].Path == e.Path {
			merged[n-1].Access |= e.Access
			merged[n-1].Evidence.merge(e.Evidence, lim.MaxEvidenceIDs)
			continue
		}
		merged = append(merged, e)
	}
	l.entries = nil
	l.byPath = make(map[string]int32, len(merged))
	l.ix = newPathIndex()
	l.children = make(map[string]map[string]struct{})
	for _, e := range merged {
		l.add(e, lim.CollapseThreshold)
	}
}

// fold removes every entry that another entry subsumes (a pattern at least
// as wide with at least the same access), merging its evidence into the
// widest such entry. Only entries holding a wildcard or {n} can subsume
// another, so the cost is entries × such entries.
func (l *pathList) fold(lim Limits) {
	var wild []int
	comps := make([][]string, len(l.entries))
	for i, e := range l.entries {
		if isAbstract(e.Path) {
			continue
		}
		comps[i] = components(e.Path)
		if strings.Contains(e.Path, wildOne) || hasDigitsPart(e.Path) {
			wild = append(wild, i)
		}
	}
	if len(wild) == 0 {
		return
	}
	into := make([]int, len(l.entries))
	for i := range into {
		into[i] = -1
	}
	for i, e := range l.entries {
		if comps[i] == nil {
			continue
		}
		for _, w := range wild {
			if w != i && l.entries[w].Access&e.Access == e.Access && subsumesComps(comps[w], comps[i]) &&
				(into[i] < 0 || subsumesComps(comps[w], comps[into[i]])) {
				into[i] = w
			}
		}
	}
	// Follow chains so evidence lands on an entry that stays.
	root := func(i int) int {
		for into[i] >= 0 {
			i = into[i]
		}
		return i
	}
	next := make([]FileEntry, 0, len(l.entries))
	for i := range l.entries {
		if into[i] < 0 {
			continue
		}
		r := root(i)
		l.entries[r].Evidence.merge(l.entries[i].Evidence, lim.MaxEvidenceIDs)
	}
	for i, e := range l.entries {
		if into[i] < 0 {
			next = append(next, e)
		}
	}
	l.rebuild(next, lim)
}
