package wire

import "bytes"

// Slots is the number of hash slots, as in Redis Cluster.
const Slots = 16384

// Slot is the hash slot of key, exactly as Redis Cluster computes it
// (cluster.c, keyHashSlot): CRC16 of the key mod 16384, except that when
// the key holds a '{' followed later by a '}' with at least one byte
// between the first '{' and the first '}' after it, only those bytes are
// hashed. Keys sharing such a {hash tag} share a slot.
func Slot(key []byte) uint16 {
	if open := bytes.IndexByte(key, '{'); open >= 0 {
		if end := bytes.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return crc16(key) & (Slots - 1)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no
// reflection), the variant Redis Cluster uses.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^c]
	}
	return crc
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// A SCAN cursor is a place in one order of the whole keyspace, the same on
// every shard: by slot, then by ScanPosition within the slot. It is the
// slot in the top 14 bits and the position in the other 50; 0 is the start.
const scanPositionBits = 50

// ScanPosition is key's place within its slot in the scan order: 50 bits
// of a hash of the key.
func ScanPosition(key []byte) uint64 { return Digest(key) >> (64 - scanPositionBits) }

// ScanCursor is the cursor of the place (slot, position): a scan from it
// visits that place next.
func ScanCursor(slot uint32, position uint64) uint64 {
	return uint64(slot)<<scanPositionBits | position
}

// SplitCursor is the inverse of ScanCursor.
func SplitCursor(c uint64) (slot uint32, position uint64) {
	return uint32(c >> scanPositionBits), c & (1<<scanPositionBits - 1)
}
