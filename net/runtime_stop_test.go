package net

import (
	"testing"

	"castkv/actors"
	"castkv/actors/store"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// snapshotHolder is a role that opens a snapshot reader and never closes
// it, as a primary does while it streams a snapshot to a learner.
type snapshotHolder struct{ opened chan struct{} }

func (h *snapshotHolder) Start(env actors.Env) {
	env.Store().NewSnapshotReader(0)
	close(h.opened)
}
func (h *snapshotHolder) Handle(actors.Env, actors.Addr, actors.Msg) {}

// A process stopped while a role streams a snapshot closes the role's
// readers, so the store's DB closes cleanly after it (castd data exited 1
// on SIGTERM with "leaked snapshots" before).
func TestStopClosesTheSnapshotReadersARoleLeftOpen(t *testing.T) {
	db, err := pebble.Open("db", store.Options(vfs.NewMem(), store.SimMemTableBytes, nil))
	if err != nil {
		t.Fatal(err)
	}
	p := newTestProcess(t, TransportConfig{})
	h := &snapshotHolder{opened: make(chan struct{})}
	p.Spawn("holder", h, db)
	<-h.opened
	p.Stop()
	if err := db.Close(); err != nil {
		t.Fatalf("closing the DB after the process stopped: %v", err)
	}
}
