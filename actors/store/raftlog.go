package store

import (
	"encoding/binary"
	"fmt"
)

// The meta group's raft log, hard state and snapshot, as opaque bytes (the
// meta role encodes raftpb messages; this package stays raft-agnostic):
//
//	'r' index -> one raft entry
//	'm' "raft-hardstate", 'm' "raft-snapshot"
//
// Raft replaces a log suffix when a new leader overwrites it, and drops a
// prefix when a snapshot covers it; both are range deletions here.
const tagRaft byte = 'r'

const (
	raftHardStateName = "raft-hardstate"
	raftSnapshotName  = "raft-snapshot"
)

func raftKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{tagRaft}, index)
}

// PutRaftEntries writes raft entries first, first+1, ... and deletes every
// entry after the last of them: raft appends only after truncating a
// conflicting suffix.
func (b *Batch) PutRaftEntries(first uint64, entries [][]byte) {
	if len(entries) == 0 {
		return
	}
	for i, e := range entries {
		b.set(raftKey(first+uint64(i)), e)
	}
	b.deleteRange(raftKey(first+uint64(len(entries))), []byte{tagRaft + 1})
}

// PutRaftHardState writes raft's hard state (term, vote, commit).
func (b *Batch) PutRaftHardState(hs []byte) { b.PutMeta(raftHardStateName, hs) }

// PutRaftSnapshot writes a raft snapshot taken at index and deletes every
// entry at or below it.
func (b *Batch) PutRaftSnapshot(index uint64, snap []byte) {
	b.PutMeta(raftSnapshotName, snap)
	b.deleteRange(raftKey(0), raftKey(index+1))
}

// InstallRaftSnapshot writes a raft snapshot received from the leader and
// deletes the whole log: raft drops every entry it held when it installs
// one (those past the snapshot are from a history that lost), and a
// restart must not load them back.
func (b *Batch) InstallRaftSnapshot(snap []byte) {
	b.PutMeta(raftSnapshotName, snap)
	b.deleteRange([]byte{tagRaft}, []byte{tagRaft + 1})
}

// RaftState is what a meta member persisted: its hard state and snapshot
// (nil when absent) and its entries in index order.
type RaftState struct {
	HardState, Snapshot []byte
	Entries             [][]byte
	FirstIndex          uint64 // index of Entries[0]
}

// RaftState reads the raft records back, for a restart.
func (s *Store) RaftState() (*RaftState, error) {
	var st RaftState
	var err error
	if st.HardState, err = s.Meta(raftHardStateName); err != nil {
		return nil, err
	}
	if st.Snapshot, err = s.Meta(raftSnapshotName); err != nil {
		return nil, err
	}
	it, err := s.iter([]byte{tagRaft}, []byte{tagRaft + 1})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	next := uint64(0)
	for ok := it.First(); ok; ok = it.Next() {
		idx := binary.BigEndian.Uint64(it.Key()[1:])
		if next != 0 && idx != next {
			return nil, fmt.Errorf("store: raft log has a gap: entry %d follows %d", idx, next-1)
		}
		if next == 0 {
			st.FirstIndex = idx
		}
		st.Entries = append(st.Entries, append([]byte(nil), it.Value()...))
		next = idx + 1
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("store: read raft log: %w", err)
	}
	return &st, nil
}
