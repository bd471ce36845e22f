package profile

import "strings"

// pathIndex finds the entry whose pattern matches a path. Patterns live in a
// trie with one level per path component, so a lookup costs one map access
// per component plus backtracking into "*" and "**" branches; it does not
// allocate. Each entry carries an access mask: a lookup succeeds only on an
// entry whose mask holds every bit asked for (0 asks for nothing).
type pathIndex struct {
	root  trieNode
	masks []Access
}

type trieNode struct {
	lit  map[string]*trieNode
	star *trieNode
	end  int32 // entry whose pattern ends here, or -1
	rest int32 // entry whose pattern ends with "**" here, or -1
}

func newTrieNode() *trieNode { return &trieNode{end: -1, rest: -1} }

func newPathIndex() *pathIndex {
	return &pathIndex{root: trieNode{end: -1, rest: -1}}
}

// insert adds a validated pattern as entry id with access mask. Patterns
// must be unique within one index.
func (ix *pathIndex) insert(pattern string, id int32, mask Access) {
	for int(id) >= len(ix.masks) {
		ix.masks = append(ix.masks, 0)
	}
	ix.masks[id] = mask
	n := &ix.root
	for _, c := range components(pattern) {
		switch c {
		case wildAny:
			n.rest = id
			return
		case wildOne:
			if n.star == nil {
				n.star = newTrieNode()
			}
			n = n.star
		default:
			if n.lit == nil {
				n.lit = make(map[string]*trieNode)
			}
			next := n.lit[c]
			if next == nil {
				next = newTrieNode()
				n.lit[c] = next
			}
			n = next
		}
	}
	n.end = id
}

// setMask changes the access mask of an inserted entry.
func (ix *pathIndex) setMask(id int32, mask Access) { ix.masks[id] = mask }

// lookup returns the most specific entry matching the clean absolute path p
// that grants need: literal components are tried before their {n} form,
// that before "*", and "*" before "**".
func (ix *pathIndex) lookup(p string, need Access) (int32, bool) {
	if p == "/" {
		return ix.grant(ix.root.end, need)
	}
	return ix.walk(&ix.root, p[1:], need)
}

func (ix *pathIndex) grant(id int32, need Access) (int32, bool) {
	if id >= 0 && ix.masks[id]&need == need {
		return id, true
	}
	return -1, false
}

// walk matches rest (the path after a "/", never empty) below n.
func (ix *pathIndex) walk(n *trieNode, rest string, need Access) (int32, bool) {
	comp, tail, more := strings.Cut(rest, "/")
	if next := n.lit[comp]; next != nil {
		if id, ok := ix.step(next, tail, more, need); ok {
			return id, true
		}
	}
	var buf [64]byte
	if form, ok := appendDigitsForm(buf[:0], comp); ok && !volatileName(comp) {
		if next := n.lit[string(form)]; next != nil { // string(form) as a key does not allocate
			if id, ok := ix.step(next, tail, more, need); ok {
				return id, true
			}
		}
	}
	if n.star != nil {
		if id, ok := ix.step(n.star, tail, more, need); ok {
			return id, true
		}
	}
	return ix.grant(n.rest, need)
}

func (ix *pathIndex) step(n *trieNode, tail string, more bool, need Access) (int32, bool) {
	if !more {
		return ix.grant(n.end, need)
	}
	return ix.walk(n, tail, need)
}
