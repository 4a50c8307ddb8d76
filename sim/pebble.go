package sim

import (
	"castkv/actors/store"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// simMemTableBytes is small: on the crashable in-memory filesystem each Sync
// copies the WAL file, and a small memtable keeps the WAL short.
const simMemTableBytes = 256 << 10

func storeOptions(fs vfs.FS) *pebble.Options {
	return store.Options(fs, simMemTableBytes, nil)
}
