package command

import "castkv/actors/wire"

// Slots is the number of hash slots, as in Redis Cluster.
const Slots = wire.Slots

// Slot is the hash slot of key, as Redis Cluster computes it (wire.Slot).
func Slot(key []byte) uint16 { return wire.Slot(key) }
