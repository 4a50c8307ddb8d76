package actors

// GroupByAddr groups items by their addressee, keeping each group in the
// items' order and listing the addressees in order of first appearance,
// so that what a role sends from the groups does not depend on map order.
// Roles batch with it: every message for one addressee in one send.
func GroupByAddr[T any](items []T, to func(T) Addr) (order []Addr, groups map[Addr][]T) {
	groups = map[Addr][]T{}
	for _, it := range items {
		a := to(it)
		if _, seen := groups[a]; !seen {
			order = append(order, a)
		}
		groups[a] = append(groups[a], it)
	}
	return order, groups
}
