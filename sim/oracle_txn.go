package sim

import (
	"fmt"

	"castkv/actors/wire"
)

// OracleTxnAtomic checks, on the committed log entries of every shard, that
// no transaction across shards both published a key (a commit of its lock)
// and rolled back another (a removal of its lock without a write): a
// reader would see part of it. That happens in rule txn-rollback's race,
// a late prewrite of a primary key that a checker rolled back (canary
// unprotected-rollback), and whenever a commit goes on after its primary
// key was decided otherwise. The oracle sees it at the step, where a
// history shows it only if a client reads a rolled back key afterwards.
// (A fate answered to a late check, once the record is forgotten, is not
// an effect: only what the entries do to locks counts.)
const OracleTxnAtomic = "txn-atomic"

// txnName names a transaction: its primary key and start timestamp.
type txnName struct {
	primary string
	start   uint64
}

// txnFate is what committed entries did to a transaction's locks: the
// shard and key of a publication and of a rollback.
type txnFate struct {
	published, rolledBack string
}

// maxTrackedTxns bounds the transactions the oracle remembers.
const maxTrackedTxns = 1 << 16

// txnCommitted checks one newly committed entry of shard.
func (o *oracles) txnCommitted(shard uint32, e *wire.Entry) {
	if e.Kind != wire.Entry_TXN {
		return
	}
	for _, w := range e.Writes {
		l := w.Removed
		if l == nil {
			continue
		}
		if len(o.txns) >= maxTrackedTxns {
			clear(o.txns)
		}
		n := txnName{string(l.Primary), l.StartTs}
		f := o.txns[n]
		if f == nil {
			f = &txnFate{}
			o.txns[n] = f
		}
		where := fmt.Sprintf("%q at shard %d (entry %d)", w.Key, shard, e.Seq)
		if w.Unlock {
			f.published = where
		} else {
			f.rolledBack = where
		}
		if f.published != "" && f.rolledBack != "" {
			o.violate(OracleTxnAtomic, "the transaction of primary key %q started at %d published %s and rolled back %s",
				n.primary, n.start, f.published, f.rolledBack)
		}
	}
}
