package main

// roundOrders are the orders in which the rounds run n conditions: the rows
// of a balanced Latin square (Williams' design). Across them each condition
// runs once in each place and right after each other condition once, so
// neither a place in the round (a node warming up or slowing down) nor the
// condition run just before (its agent's exit, the page cache it left)
// favours any one condition. For odd n one square cannot balance the
// successions: its mirror follows it, and each holds twice in 2n rounds.
func roundOrders(n int) [][]int {
	first := make([]int, n)
	for j := range n {
		switch {
		case j == 0:
			first[j] = 0
		case j%2 == 1:
			first[j] = (j + 1) / 2
		default:
			first[j] = n - j/2
		}
	}
	var orders [][]int
	for r := range n {
		row := make([]int, n)
		for j, c := range first {
			row[j] = (c + r) % n
		}
		orders = append(orders, row)
	}
	if n%2 == 1 {
		for r := range n {
			row := make([]int, n)
			for j := range n {
				row[j] = orders[r][n-1-j]
			}
			orders = append(orders, row)
		}
	}
	return orders
}
