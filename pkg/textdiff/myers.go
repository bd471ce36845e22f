package textdiff

import "slices"

// diffLines computes a line edit script from a to b: common prefix and
// suffix are matched directly, the middle with Myers' O(ND) algorithm.
func diffLines(a, b []string) []lineOp {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	kinds := make([]byte, 0, len(a)+len(b))
	for range p {
		kinds = append(kinds, ' ')
	}
	kinds = append(kinds, myers(a[p:len(a)-s], b[p:len(b)-s])...)
	for range s {
		kinds = append(kinds, ' ')
	}
	ops := make([]lineOp, 0, len(kinds))
	ai, bi := 0, 0
	for _, k := range kinds {
		op := lineOp{kind: k, aLine: ai + 1, bLine: bi + 1}
		switch k {
		case ' ':
			op.text = a[ai]
			ai++
			bi++
		case '-':
			op.text = a[ai]
			ai++
		case '+':
			op.text = b[bi]
			bi++
		}
		ops = append(ops, op)
	}
	return ops
}

// myers returns the shortest edit script from a to b as ' ', '-' and '+'
// per line, or, past maxEditDistance edits, all of a removed then all of b
// added.
func myers(a, b []string) []byte {
	n, m := len(a), len(b)
	replace := func() []byte {
		out := make([]byte, 0, n+m)
		for range n {
			out = append(out, '-')
		}
		for range m {
			out = append(out, '+')
		}
		return out
	}
	if n == 0 || m == 0 {
		return replace()
	}
	off := n + m
	v := make([]int, 2*off+2)
	var trace [][]int // trace[d][k+d] is v[k] after step d
	for d := 0; d <= n+m; d++ {
		if d > maxEditDistance {
			return replace()
		}
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, n, m, d)
			}
		}
		trace = append(trace, slices.Clone(v[off-d:off+d+1]))
	}
	return replace()
}

func backtrack(trace [][]int, n, m, dEnd int) []byte {
	var out []byte
	x, y := n, m
	for d := dEnd; d > 0; d-- {
		prev := trace[d-1]
		get := func(k int) int { return prev[k+d-1] }
		k := x - y
		prevK := k - 1
		if k == -d || (k != d && get(k-1) < get(k+1)) {
			prevK = k + 1
		}
		prevX := get(prevK)
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			out = append(out, ' ')
			x, y = x-1, y-1
		}
		if x == prevX {
			out = append(out, '+')
			y--
		} else {
			out = append(out, '-')
			x--
		}
	}
	for x > 0 && y > 0 {
		out = append(out, ' ')
		x, y = x-1, y-1
	}
	slices.Reverse(out)
	return out
}
