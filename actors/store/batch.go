package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"
)

// Batch collects writes that commit atomically. Its methods record the
// first error (an unencodable message, a reserved timestamp) and Commit
// returns it without writing anything. A Batch is used once: Commit or
// Close it.
type Batch struct {
	s   *Store
	b   *pebble.Batch
	err error
}

// NewBatch starts an empty batch.
func (s *Store) NewBatch() *Batch {
	return &Batch{s: s, b: s.db.NewBatch()}
}

var marshal = proto.MarshalOptions{Deterministic: true}

func (b *Batch) batch() *pebble.Batch {
	if b.b == nil {
		panic("store: batch used after Commit or Close")
	}
	return b.b
}

func (b *Batch) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Batch) set(k, v []byte) {
	if err := b.batch().Set(k, v, nil); err != nil {
		b.fail(fmt.Errorf("store: batch set %x: %w", k, err))
	}
}

// setSized writes k with a value of exactly n bytes that fill writes into
// the batch's own buffer: a large value is copied once, not built apart
// and copied in.
func (b *Batch) setSized(k []byte, n int, fill func(dst []byte) []byte) {
	op := b.batch().SetDeferred(len(k), n)
	copy(op.Key, k)
	if got := fill(op.Value[:0]); len(got) != n || (n > 0 && &got[0] != &op.Value[0]) {
		b.fail(fmt.Errorf("store: batch set %x: the value came out %d bytes, not %d in place", k, len(got), n))
	}
	if err := op.Finish(); err != nil {
		b.fail(fmt.Errorf("store: batch set %x: %w", k, err))
	}
}

func (b *Batch) delete(k []byte) {
	if err := b.batch().Delete(k, nil); err != nil {
		b.fail(fmt.Errorf("store: batch delete %x: %w", k, err))
	}
}

func (b *Batch) deleteRange(start, end []byte) {
	if err := b.batch().DeleteRange(start, end, nil); err != nil {
		b.fail(fmt.Errorf("store: batch delete [%x, %x): %w", start, end, err))
	}
}

func (b *Batch) setUint64(k []byte, n uint64) {
	b.set(k, binary.BigEndian.AppendUint64(nil, n))
}

// PutConfig records c as the newest config of shard c.Shard.
func (b *Batch) PutConfig(c *wire.Config) {
	v, err := marshal.Marshal(c)
	if err != nil {
		b.fail(fmt.Errorf("store: shard %d: config version %d: %w", c.Shard, c.Version, err))
		return
	}
	b.set(shardKey(tagConfig, c.Shard), v)
}

// AppendEntry writes log entry e at e.Seq, replacing any entry there.
func (b *Batch) AppendEntry(shard uint32, e *wire.Entry) {
	b.setSized(logKey(shard, e.Seq), marshal.Size(e), func(dst []byte) []byte {
		out, err := marshal.MarshalAppend(dst, e)
		if err != nil {
			b.fail(fmt.Errorf("store: shard %d: log entry %d: %w", shard, e.Seq, err))
		}
		return out
	})
}

// TruncateLog deletes the shard's log entries with seq >= fromSeq (a
// conflicting suffix). Entries appended later in the same batch survive.
func (b *Batch) TruncateLog(shard uint32, fromSeq uint64) {
	b.deleteRange(logKey(shard, fromSeq), prefixEnd(shardKey(tagLog, shard)))
}

// SetApplied records that the shard's log is applied through seq.
func (b *Batch) SetApplied(shard uint32, seq uint64) {
	b.setUint64(shardKey(tagApplied, shard), seq)
}

// PutVersion writes key's value at ts, expiring at expireMs (unix
// milliseconds of TSO time; 0: never). ts 0 is reserved (see doc.go).
func (b *Batch) PutVersion(shard uint32, key []byte, ts uint64, value []byte, expireMs int64) {
	if ts == 0 {
		b.fail(fmt.Errorf("store: shard %d: version of %q at ts 0: ts 0 is reserved", shard, key))
		return
	}
	if expireMs < 0 {
		b.fail(fmt.Errorf("store: shard %d: version of %q expiring at %d ms: an expiry is positive, or 0 for none", shard, key, expireMs))
		return
	}
	if expireMs == 0 {
		b.setSized(dataKey(shard, key, ts), 1+len(value), func(dst []byte) []byte {
			return append(append(dst, kindValue), value...)
		})
		return
	}
	b.setSized(dataKey(shard, key, ts), 1+8+len(value), func(dst []byte) []byte {
		dst = binary.BigEndian.AppendUint64(append(dst, kindExpiring), uint64(expireMs))
		return append(dst, value...)
	})
}

// PutTombstone records key as deleted at ts. ts 0 is reserved.
func (b *Batch) PutTombstone(shard uint32, key []byte, ts uint64) {
	if ts == 0 {
		b.fail(fmt.Errorf("store: shard %d: tombstone of %q at ts 0: ts 0 is reserved", shard, key))
		return
	}
	b.set(dataKey(shard, key, ts), []byte{kindTombstone})
}

// SetFlush sets the shard's flush marker: every version at or below ts is
// gone. The caller keeps the marker from moving back.
func (b *Batch) SetFlush(shard uint32, ts uint64) {
	b.setUint64(shardKey(tagFlush, shard), ts)
}

// PutLock writes key's lock record.
func (b *Batch) PutLock(shard uint32, key, lock []byte) {
	b.set(keyedPrefix(tagLock, shard, key), lock)
}

// DeleteLock removes key's lock record.
func (b *Batch) DeleteLock(shard uint32, key []byte) {
	b.delete(keyedPrefix(tagLock, shard, key))
}

// PutMeta writes the meta record name.
func (b *Batch) PutMeta(name string, v []byte) {
	b.set(metaKey(name), v)
}

// DeleteMeta removes the meta record name.
func (b *Batch) DeleteMeta(name string) {
	b.delete(metaKey(name))
}

// DeleteShard removes every record of the shard: config, log, applied seq,
// data, locks and flush marker (a replica removed from its group).
func (b *Batch) DeleteShard(shard uint32) {
	for _, tag := range shardTags {
		p := shardKey(tag, shard)
		b.deleteRange(p, prefixEnd(p))
	}
}

// Empty reports whether the batch holds no writes.
func (b *Batch) Empty() bool {
	return b.batch().Empty()
}

// Len is the number of writes in the batch (a range deletion counts once).
func (b *Batch) Len() int {
	return int(b.batch().Count())
}

// Bytes is the batch's encoded size, what it adds to the WAL.
func (b *Batch) Bytes() int {
	return b.batch().Len()
}

// Commit applies the batch atomically; with sync it is durable before
// Commit returns, and so is every write committed before it (an empty batch
// with sync is a Store.Sync). Commit closes the batch, also on error.
// Roles write with Store.Write and ask for durability with Store.Persist.
func (b *Batch) Commit(sync bool) error {
	if sync {
		return b.s.WriteSync(b)
	}
	_, err := b.s.Write(b)
	return err
}

// commit applies the batch, not durable (the Store decides about syncs).
func (b *Batch) commit() error {
	pb := b.batch()
	defer b.Close()
	if b.err != nil {
		return b.err
	}
	if pb.Empty() {
		return nil
	}
	if err := pb.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store: commit batch of %d writes: %w", pb.Count(), err)
	}
	return nil
}

// Close discards a batch that was not committed; after Commit it does
// nothing.
func (b *Batch) Close() {
	if b.b == nil {
		return
	}
	// pebble fails only a second Close, which b.b = nil rules out.
	if err := b.b.Close(); err != nil {
		panic(errors.Join(errors.New("store: close batch"), err))
	}
	b.b = nil
}
