package profile

import (
	"path"
	"strings"
)

// Directories a container creates files in. Names a container makes at run
// time — mkstemp's random suffixes, names a request chose — repeat nowhere,
// so waiting for Limits.CollapseThreshold of them leaves every new one
// news. Two rules learn them sooner, from opens that created their file
// (Observation.Created), never from opens of files that were there:
//
//  1. Once Limits.CreateThreshold distinct names were created in one
//     directory, the created files' entries become dir/* with their access
//     bits unioned (/var/lib/notes/users/alice/.upload-x9k2 → …/alice/*).
//  2. Once two sibling directories became dir/* by rule 1, the directory
//     level is taken to vary too (one directory per user, per session, per
//     process): their entries become parent/*/* (…/users/*/*), and the
//     entries of those directories themselves (listing them) parent/*.
//
// Neither applies where a container's own files are not made: the root, and
// the system's programs, libraries and configuration (systemDirs) — a file
// created there is news however many came before, and a learned /etc/*
// write would allow rewriting /etc/passwd. Both widen to names the
// container did not create (an existing file in the directory, opened with
// the same access); that is the price of not knowing names in advance.

// systemDirs are the trees created files are never generalised in.
var systemDirs = []string{"/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/boot"}

// creatable reports whether files created in dir may be generalised.
func creatable(dir string) bool {
	if dir == "/" {
		return false
	}
	for _, s := range systemDirs {
		if dir == s || strings.HasPrefix(dir, s+"/") {
			return false
		}
	}
	return true
}

// createdDir is the wildcard entry of a directory files are created in.
func createdDir(dir string) string { return path.Join(dir, wildOne) }

// noteCreated records that the entry g (generalised, just added) was
// created, and generalises its directory when rule 1 or 2 now holds.
func (l *pathList) noteCreated(g string, lim Limits) {
	dir, name := path.Split(g)
	dir = path.Clean(dir)
	if !creatable(dir) {
		return
	}
	names := l.created[dir]
	if names == nil {
		names = make(map[string]struct{})
		l.created[dir] = names
	}
	names[name] = struct{}{}
	if len(names) < lim.CreateThreshold {
		return
	}
	l.rewrite(func(p string) string {
		if d, n := path.Split(p); path.Clean(d) == dir {
			if _, ok := names[n]; ok {
				return createdDir(dir)
			}
		}
		return p
	}, lim)
	parent, sub := path.Split(dir)
	parent = path.Clean(parent)
	if !creatable(parent) || sub == wildOne {
		return
	}
	subs := l.createdIn[parent]
	if subs == nil {
		subs = make(map[string]struct{})
		l.createdIn[parent] = subs
	}
	subs[sub] = struct{}{}
	if len(subs) < 2 {
		return
	}
	l.rewrite(func(p string) string {
		if d, n := path.Split(p); path.Clean(d) == parent {
			if _, ok := subs[n]; ok {
				return path.Join(parent, wildOne)
			}
		}
		d, n := path.Split(path.Dir(p))
		if _, ok := subs[n]; ok && path.Clean(d) == parent && path.Base(p) == wildOne {
			return path.Join(parent, wildOne, wildOne)
		}
		return p
	}, lim)
}

// rewrite replaces every entry's pattern by f's and rebuilds the list,
// merging entries that became equal.
func (l *pathList) rewrite(f func(string) string, lim Limits) {
	next := make([]FileEntry, 0, len(l.entries))
	for _, e := range l.entries {
		if !isAbstract(e.Path) {
			e.Path = f(e.Path)
		}
		next = append(next, e)
	}
	l.rebuild(next, lim)
}
