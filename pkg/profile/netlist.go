package profile

import (
	"net/netip"
	"slices"
)

// netIndex finds the inet entry allowing a destination: a map lookup for
// entries naming one address and one port (what learning produces), then a
// scan of the wider entries (prefixes, port ranges) in insertion order.
type netIndex struct {
	rules   []NetworkEntry
	exact   map[netKey]int32
	general []int32
}

type netKey struct {
	addr  netip.Addr
	port  uint16
	proto Protocol
}

func newNetIndex() *netIndex { return &netIndex{exact: make(map[netKey]int32)} }

func (x *netIndex) insert(id int32, e NetworkEntry) {
	for int(id) >= len(x.rules) {
		x.rules = append(x.rules, NetworkEntry{})
	}
	x.rules[id] = NetworkEntry{Prefix: e.Prefix, Ports: e.Ports, Protocol: e.Protocol}
	if e.Prefix.IsSingleIP() && e.Ports.Lo == e.Ports.Hi {
		x.exact[netKey{e.Prefix.Addr(), e.Ports.Lo, e.Protocol}] = id
		return
	}
	x.general = append(x.general, id)
}

func (x *netIndex) lookup(d Destination) (int32, bool) {
	addr := d.Addr.Unmap()
	if id, ok := x.exact[netKey{addr, d.Port, d.Protocol}]; ok {
		return id, true
	}
	for _, id := range x.general {
		r := &x.rules[id]
		if r.Protocol == d.Protocol && r.Ports.Contains(d.Port) && r.Prefix.Contains(addr) {
			return id, true
		}
	}
	return -1, false
}

// netCovers reports whether inet entry a allows everything b does.
func netCovers(a, b NetworkEntry) bool {
	return a.Protocol == b.Protocol && a.Ports.Lo <= b.Ports.Lo && b.Ports.Hi <= a.Ports.Hi &&
		a.Prefix.Bits() <= b.Prefix.Bits() && a.Prefix.Contains(b.Prefix.Addr())
}

// netList is the draft's mutable list of inet entries, with the per-subnet
// host counts that drive collapsing.
type netList struct {
	entries []NetworkEntry
	byKey   map[netEntryKey]int32
	ix      *netIndex
	groups  map[hostGroup]map[netip.Addr]struct{}
}

// hostGroup is the subnet (/24 or /64), port and protocol that single-host
// entries are counted under.
type hostGroup struct {
	prefix netip.Prefix
	port   uint16
	proto  Protocol
}

// netEntryKey is what makes two inet entries the same entry.
type netEntryKey struct {
	prefix netip.Prefix
	ports  PortRange
	proto  Protocol
}

func keyOf(e NetworkEntry) netEntryKey { return netEntryKey{e.Prefix, e.Ports, e.Protocol} }

func newNetList() *netList {
	return &netList{
		byKey:  make(map[netEntryKey]int32),
		ix:     newNetIndex(),
		groups: make(map[hostGroup]map[netip.Addr]struct{}),
	}
}

func groupOf(e NetworkEntry) (hostGroup, bool) {
	if !e.Prefix.IsSingleIP() || e.Ports.Lo != e.Ports.Hi {
		return hostGroup{}, false
	}
	bits := 24
	if e.Prefix.Addr().Is6() {
		bits = 64
	}
	p, _ := e.Prefix.Addr().Prefix(bits)
	return hostGroup{p, e.Ports.Lo, e.Protocol}, true
}

// hostEntry is the entry learning adds for one destination.
func hostEntry(d Destination) NetworkEntry {
	a := d.Addr.Unmap()
	return NetworkEntry{Prefix: netip.PrefixFrom(a, a.BitLen()), Ports: SinglePort(d.Port), Protocol: d.Protocol}
}

// add appends a new entry and reports whether its subnet group now holds
// more than threshold hosts.
func (l *netList) add(e NetworkEntry, threshold int) bool {
	id := int32(len(l.entries))
	l.entries = append(l.entries, e)
	l.byKey[keyOf(e)] = id
	l.ix.insert(id, e)
	g, ok := groupOf(e)
	if !ok {
		return false
	}
	set := l.groups[g]
	if set == nil {
		set = make(map[netip.Addr]struct{})
		l.groups[g] = set
	}
	set[e.Prefix.Addr()] = struct{}{}
	return len(set) > threshold
}

// collapse replaces the hosts of every over-full group by the group's
// subnet and rebuilds the list. It reports whether anything changed.
func (l *netList) collapse(lim Limits) bool {
	var over []hostGroup
	for g, set := range l.groups {
		if len(set) > lim.NetCollapseThreshold {
			over = append(over, g)
		}
	}
	if len(over) == 0 {
		return false
	}
	next := slices.Clone(l.entries)
	for i, e := range next {
		if g, ok := groupOf(e); ok && slices.Contains(over, g) {
			next[i].Prefix = g.prefix
		}
	}
	l.rebuild(next, lim)
	return true
}

// rebuild replaces the entries, merging equal ones, in canonical order.
func (l *netList) rebuild(entries []NetworkEntry, lim Limits) {
	slices.SortStableFunc(entries, compareNetwork)
	merged := entries[:0]
	for _, e := range entries {
		if n := len(merged); n > 0 && compareNetwork(merged[n-1], e) == 0 {
			merged[n-1].Evidence.merge(e.Evidence, lim.MaxEvidenceIDs)
			continue
		}
		merged = append(merged, e)
	}
	l.entries = nil
	l.byKey = make(map[netEntryKey]int32, len(merged))
	l.ix = newNetIndex()
	l.groups = make(map[hostGroup]map[netip.Addr]struct{})
	for _, e := range merged {
		l.add(e, lim.NetCollapseThreshold)
	}
}

// fold removes entries another entry covers, merging their evidence into
// the widest cover.
func (l *netList) fold(lim Limits) {
	into := make([]int, len(l.entries))
	for i := range into {
		into[i] = -1
	}
	for i, e := range l.entries {
		for _, g := range l.ix.general {
			w := int(g)
			if w != i && netCovers(l.entries[w], e) && (into[i] < 0 || netCovers(l.entries[w], l.entries[into[i]])) {
				into[i] = w
			}
		}
	}
	next := make([]NetworkEntry, 0, len(l.entries))
	for i := range l.entries {
		r := i
		for into[r] >= 0 {
			r = into[r]
		}
		if r != i {
			l.entries[r].Evidence.merge(l.entries[i].Evidence, lim.MaxEvidenceIDs)
		}
	}
	for i, e := range l.entries {
		if into[i] < 0 {
			next = append(next, e)
		}
	}
	l.rebuild(next, lim)
}
