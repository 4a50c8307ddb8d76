package sim

import (
	"castkv/actors/store"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// simMemTableBytes is small, so a WAL and a flush stay small.
const simMemTableBytes = 256 << 10

// storeOptions are castkv's pebble options (actors/store) with one change
// for the simulator: no block compression. A read of a key whose newest
// version is a value of a few MiB decompressed the whole value every time
// (snappy took 70% of such a run); in memory there is nothing to save.
func storeOptions(fs vfs.FS) *pebble.Options {
	o := store.Options(fs, simMemTableBytes, nil)
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	return o
}
