package data

import (
	"time"

	"castkv/actors/store"
	"castkv/actors/wire"
)

// loadWindow is the span a primary's traffic rates are measured over: long
// enough that a heartbeat interval's burst or lull does not swing them, short
// enough that meta and castd admin status see a change within seconds.
const loadWindow = time.Second

// loadMeter counts what a replica served as primary (reads answered,
// entries sequenced, the bytes they write) and turns the counts into rates
// over loadWindow on the server's clock. It lives in the replica, not the
// primary state, so a config change while primary keeps the window going.
type loadMeter struct {
	ops, writeBytes uint64    // in the window that began at since
	since           time.Time // zero: no window yet
	// The rates of the last window that ended.
	opsPerSec, writeBytesPerSec float64
}

// served counts one command served, writing n bytes.
func (l *loadMeter) served(n int) {
	l.ops++
	l.writeBytes += uint64(n)
}

// rates closes the window at now if it is loadWindow long, and returns the
// rates of the last window that ended.
func (l *loadMeter) rates(now time.Time) (opsPerSec, writeBytesPerSec float64) {
	if l.since.IsZero() {
		l.since = now
	}
	if d := now.Sub(l.since); d >= loadWindow {
		l.opsPerSec = float64(l.ops) / d.Seconds()
		l.writeBytesPerSec = float64(l.writeBytes) / d.Seconds()
		l.ops, l.writeBytes, l.since = 0, 0, now
	}
	return l.opsPerSec, l.writeBytesPerSec
}

// writeBytes is what an entry's writes add: each key's and value's bytes.
func writeBytes(e *wire.Entry) int {
	n := 0
	for _, w := range e.Writes {
		if !w.LockOnly {
			n += len(w.Key) + len(w.Value)
		} else if w.Lock != nil {
			n += len(w.Key) + len(w.Lock.Value)
		}
	}
	return n
}

// load is the shard's size and traffic for the primary's heartbeat: the live
// counts of the applied state (kept in memory as entries apply; read from
// the store once after a restart or an install), its transaction locks and
// the meter's rates.
func (r *replica) load(now time.Time) *wire.ShardLoad {
	if r.live == nil {
		keys, err := r.s.st.LiveKeys(r.shard)
		r.s.must(err, "read the live key count")
		bytes, err := r.s.st.LiveBytes(r.shard)
		r.s.must(err, "read the live bytes")
		r.live = &store.LiveCounts{Keys: keys, Bytes: bytes}
	}
	ops, wb := r.meter.rates(now)
	return &wire.ShardLoad{LiveKeys: r.live.Keys, LiveBytes: r.live.Bytes, OpsPerSec: ops, WriteBytesPerSec: wb, Locks: uint64(len(r.locks)), LockFloor: r.lockFloor(now), TxnRecords: uint64(len(r.txns))}
}
