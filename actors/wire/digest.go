package wire

import "github.com/cespare/xxhash/v2"

// Digest identifies a staged value: Commit and Prepare name values by it.
func Digest(value []byte) uint64 { return xxhash.Sum64(value) }
