package command

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
