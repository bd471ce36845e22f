package main

import "testing"

// TestRoundOrder checks that the rounds' orders form a balanced Latin
// square: each row runs every condition once, each condition takes each
// place equally often, and each ordered pair of conditions is adjacent
// equally often.
func TestRoundOrder(t *testing.T) {
	for n := 1; n <= 9; n++ {
		orders := roundOrders(n)
		times := 1 // how often each place and succession holds
		if n%2 == 1 {
			times = 2
		}
		if len(orders) != times*n {
			t.Fatalf("n=%d: %d rows, want %d", n, len(orders), times*n)
		}
		place := make([][]int, n)   // place[c][j]: rows with c in place j
		follows := make([][]int, n) // follows[a][b]: rows with b right after a
		for c := range n {
			place[c], follows[c] = make([]int, n), make([]int, n)
		}
		for r, row := range orders {
			seen := make([]bool, n)
			for j, c := range row {
				if c < 0 || c >= n || seen[c] {
					t.Fatalf("n=%d: row %d %v is not a permutation", n, r, row)
				}
				seen[c] = true
				place[c][j]++
				if j > 0 {
					follows[row[j-1]][c]++
				}
			}
		}
		for a := range n {
			for j := range n {
				if place[a][j] != times {
					t.Errorf("n=%d: condition %d in place %d in %d rows, want %d", n, a, j, place[a][j], times)
				}
			}
			for b := range n {
				if a != b && follows[a][b] != times {
					t.Errorf("n=%d: %d right after %d in %d rows, want %d", n, b, a, follows[a][b], times)
				}
			}
		}
	}
}
