package data

import (
	"testing"

	"castkv/actors/wire"
)

// Hole 7: after more sessions than the table holds, a late retry from a
// forgotten session answers "outcome unknown", never a second execution;
// a session newer than every forgotten one is new.
func TestForgottenSessionIsNeverNew(t *testing.T) {
	d := newDedup()
	seq := uint64(0)
	for session := uint64(1); session <= maxSessions+10; session++ {
		seq++
		d.record(&wire.Entry{Seq: seq, Op: &wire.OpID{Incarnation: session, Counter: 1}, Result: &wire.Reply{Kind: wire.Reply_INT, Int: 1}})
	}
	_, found, expired := d.lookup(&wire.OpID{Incarnation: 1, Counter: 1})
	if found || expired != expiredSession {
		t.Fatalf("a retry from forgotten session 1: found=%v expired=%v, want the session reported expired", found, expired)
	}
	rec, found, _ := d.lookup(&wire.OpID{Incarnation: maxSessions + 10, Counter: 1})
	if !found || rec.seq != seq {
		t.Fatalf("the newest session's op: found=%v rec=%v", found, rec)
	}
	if _, found, expired := d.lookup(&wire.OpID{Incarnation: maxSessions + 11, Counter: 1}); found || expired != notExpired {
		t.Fatalf("a new session: found=%v expired=%v, want new", found, expired)
	}
}

// The exactly-once watermark: ops below it were answered and answer
// "outcome unknown".
func TestOpBelowWatermarkExpired(t *testing.T) {
	d := newDedup()
	d.record(&wire.Entry{Seq: 1, Op: &wire.OpID{Incarnation: 3, Counter: 1}})
	d.record(&wire.Entry{Seq: 2, Op: &wire.OpID{Incarnation: 3, Counter: 5}, Watermark: 4})
	if _, found, expired := d.lookup(&wire.OpID{Incarnation: 3, Counter: 1}); found || expired != expiredOp {
		t.Fatalf("op 1 below watermark 4: found=%v expired=%v", found, expired)
	}
}
