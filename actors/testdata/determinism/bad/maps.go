package bad

import "maps"

type index map[string]int

type shard struct{ replicas map[string]bool }

func orders(m map[string]int, ix index, s *shard) (n int) {
	for _, v := range m { // want map-order
		n += v
	}
	for k := range ix { // want map-order
		n += len(k)
	}
	for r := range s.replicas { // want map-order
		n += len(r)
	}
	for k := range maps.Keys(m) { // want map-order
		n += len(k)
	}
	// order-independent:
	for range m { // want map-order
		n++
	}
	// order-independent: a blank line parts this from the loop

	for range m { // want map-order
		n++
	}
	return n
}
