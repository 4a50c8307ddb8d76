package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"castkv/actors/store"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The pebble stores this process has open, by the base name of their
// directory (meta, data1, ...), so that --pprof can show their metrics at
// /debug/pebble: pebble's memtables and block cache live outside Go's heap,
// where Go's own profiles do not see them.
var openStores = struct {
	sync.Mutex
	byName map[string]*pebble.DB
}{byName: map[string]*pebble.DB{}}

func openStore(dir string, log *slog.Logger) (*pebble.DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := pebble.Open(dir, store.Options(vfs.Default, store.ProductionMemTableBytes, nil))
	if err != nil {
		return nil, fmt.Errorf("open pebble store in %s: %w", dir, err)
	}
	// A directory an older castd wrote may lack an index this one reads.
	if added, err := store.New(db, nil).Upgrade(); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrade the store in %s to format %d: %w", dir, store.CurrentFormat, err)
	} else if added > 0 {
		log.Info("upgraded an older data directory: built the scan index of its keys", "dir", dir, "keys", added, "format", store.CurrentFormat)
	}
	openStores.Lock()
	openStores.byName[filepath.Base(dir)] = db
	openStores.Unlock()
	return db, nil
}

// closeStore closes a store openStore opened. Its metrics stop being served
// first: pebble's Metrics must not be called on a closed DB.
func closeStore(db *pebble.DB) error {
	openStores.Lock()
	for name, d := range openStores.byName {
		if d == db {
			delete(openStores.byName, name)
		}
	}
	openStores.Unlock()
	return db.Close()
}

func init() {
	// On the default mux, which --pprof serves.
	http.HandleFunc("/debug/pebble", servePebbleMetrics)
}

// servePebbleMetrics writes each open store's pebble metrics (memtables,
// zombie memtables, block cache, compactions), as pebble formats them. The
// lock is held throughout so no store closes meanwhile.
func servePebbleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	openStores.Lock()
	defer openStores.Unlock()
	names := make([]string, 0, len(openStores.byName))
	for name := range openStores.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := openStores.byName[name].Metrics()
		fmt.Fprintf(w, "# store %s: memtables %d (%d bytes), zombie memtables %d (%d bytes), block cache %d bytes\n%s\n",
			name, m.MemTable.Count, m.MemTable.Size, m.MemTable.ZombieCount, m.MemTable.ZombieSize, m.BlockCache.Size, m)
	}
}
