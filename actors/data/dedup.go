package data

import (
	"castkv/actors/wire"
)

// dedup is the exactly-once table: op id -> the log entry that executed it.
// It is rebuilt from the log on recovery (the record travels inside the
// entry) and pruned by each API session's watermark.
//
// Sessions are the API servers' OpID.Incarnation, issued by meta in
// increasing order. The table holds at most maxSessions; beyond that the
// idlest is forgotten and evictedThrough rises to cover it. A session we do
// not know is either new (above evictedThrough) or one we forgot (at or
// below it): its ops answer "session expired", an unknown outcome, never a
// second execution. Because the table is derived from the log alone, every
// replica forgets the same sessions.
type dedup struct {
	sessions       map[uint64]*session // by API session id
	evictedThrough uint64              // every session id <= this may have been forgotten
}

type session struct {
	watermark uint64 // ops below it have been answered; their records are gone
	lastSeq   uint64 // newest entry of this session, for evicting idle sessions
	ops       map[uint64]opRecord
}

type opRecord struct {
	seq    uint64
	result *wire.Reply
}

// expiry tells why an op has no record.
type expiry uint8

const (
	notExpired     expiry = iota
	expiredOp             // below its session's watermark
	expiredSession        // its session was forgotten
)

// maxSessions bounds the API sessions remembered; the idlest is dropped.
const maxSessions = 1024

func newDedup() *dedup { return &dedup{sessions: map[uint64]*session{}} }

func (d *dedup) record(e *wire.Entry) {
	if e.Op == nil || e.Kind == wire.Entry_BARRIER {
		return
	}
	s := d.sessions[e.Op.Incarnation]
	if s == nil && e.Op.Incarnation <= d.evictedThrough {
		// A forgotten session stays forgotten: brought back with only
		// some of its records, it would take an executed op for a new one
		// (a table saved at a compaction replays the log after it).
		return
	}
	if s == nil {
		if len(d.sessions) >= maxSessions {
			d.evictIdlest()
		}
		s = &session{ops: map[uint64]opRecord{}}
		d.sessions[e.Op.Incarnation] = s
	}
	s.lastSeq = max(s.lastSeq, e.Seq)
	if e.Watermark > s.watermark {
		s.watermark = e.Watermark
		// order-independent: deletes every record below the watermark
		for c := range s.ops {
			if c < s.watermark {
				delete(s.ops, c)
			}
		}
	}
	if e.Op.Counter >= s.watermark {
		s.ops[e.Op.Counter] = opRecord{seq: e.Seq, result: e.Result}
	}
}

// lookup finds op's record. When there is none, expired says whether the
// op is new (notExpired) or its outcome can no longer be told.
func (d *dedup) lookup(op *wire.OpID) (rec opRecord, found bool, expired expiry) {
	s := d.sessions[op.Incarnation]
	if s == nil {
		if op.Incarnation <= d.evictedThrough {
			return opRecord{}, false, expiredSession
		}
		return opRecord{}, false, notExpired
	}
	if op.Counter < s.watermark {
		return opRecord{}, false, expiredOp
	}
	rec, found = s.ops[op.Counter]
	return rec, found, notExpired
}

// truncate forgets records of entries at or after seq (a conflicting
// suffix being replaced). Sessions evicted because of those entries stay
// forgotten: that only turns some retries into "outcome unknown".
func (d *dedup) truncate(seq uint64) {
	// order-independent: deletes every matching record
	for _, s := range d.sessions {
		// order-independent: deletes every matching record
		for c, rec := range s.ops {
			if rec.seq >= seq {
				delete(s.ops, c)
			}
		}
	}
}

func (d *dedup) evictIdlest() {
	var idlest uint64
	var found bool
	var least uint64
	// order-independent: a minimum over distinct (lastSeq, id) pairs
	for inc, s := range d.sessions {
		if !found || s.lastSeq < least || (s.lastSeq == least && inc < idlest) {
			idlest, least, found = inc, s.lastSeq, true
		}
	}
	delete(d.sessions, idlest)
	d.evictedThrough = max(d.evictedThrough, idlest)
}

// table is the exactly-once table as stored with a log compaction at
// through, or sent with a snapshot at through: the records of entries after
// through are left out, since the log after through brings them back.
// Watermarks and forgotten sessions stay as they are now, which can only
// turn more retries into "outcome unknown", never run an op twice.
func (d *dedup) table(through uint64) *wire.DedupTable {
	t := &wire.DedupTable{EvictedThrough: d.evictedThrough}
	for _, id := range sortedKeys(d.sessions) {
		s := d.sessions[id]
		ws := &wire.DedupSession{Id: id, Watermark: s.watermark, LastSeq: s.lastSeq}
		for _, c := range sortedKeys(s.ops) {
			if rec := s.ops[c]; rec.seq <= through {
				ws.Ops = append(ws.Ops, &wire.DedupRecord{Counter: c, Seq: rec.seq, Result: rec.result})
			}
		}
		t.Sessions = append(t.Sessions, ws)
	}
	return t
}

// dedupFrom rebuilds a table stored by table.
func dedupFrom(t *wire.DedupTable) *dedup {
	d := newDedup()
	if t == nil {
		return d
	}
	d.evictedThrough = t.EvictedThrough
	for _, ws := range t.Sessions {
		s := &session{watermark: ws.Watermark, lastSeq: ws.LastSeq, ops: map[uint64]opRecord{}}
		for _, r := range ws.Ops {
			s.ops[r.Counter] = opRecord{seq: r.Seq, result: r.Result}
		}
		d.sessions[ws.Id] = s
	}
	return d
}
