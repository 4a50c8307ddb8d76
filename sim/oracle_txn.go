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

// OracleTxnLock checks rule txn-lock on the committed log of every shard:
// no entry writes a value of a key that holds another transaction's lock
// (a one-shard write, an expiry reclaimed, or a commit of another
// transaction). The oracle keeps each shard's locks as the committed
// entries left them: a prewrite adds its keys' locks, a commit or a
// rollback removes them; a FLUSH forgets them all. A lock a split moved
// to a new shard is not followed there (it is not in the new shard's
// log), which loses checks, never makes a false one.
const OracleTxnLock = "txn-lock"

// maxTrackedLocks bounds the locks the oracle follows per shard.
const maxTrackedLocks = 1 << 16

// lockCommitted follows and checks one newly committed entry of shard for
// OracleTxnLock.
func (o *oracles) lockCommitted(shard uint32, e *wire.Entry) {
	locks := o.locks[shard]
	if locks == nil {
		locks = map[string]*wire.Lock{}
		o.locks[shard] = locks
	}
	if e.Kind == wire.Entry_FLUSH {
		clear(locks)
		return
	}
	for _, w := range e.Writes {
		held := locks[string(w.Key)]
		switch {
		case w.LockOnly && w.Lock != nil:
			if len(locks) >= maxTrackedLocks {
				clear(locks)
			}
			locks[string(w.Key)] = w.Lock
			continue
		case w.LockOnly:
			delete(locks, string(w.Key))
			continue
		}
		mine := w.Unlock && held != nil && w.Removed != nil && held.StartTs == w.Removed.StartTs && string(held.Primary) == string(w.Removed.Primary)
		if held != nil && !mine {
			o.violate(OracleTxnLock, "shard %d entry %d wrote %q, which holds the lock of a transaction that started at %d (primary key %q, keep %t)",
				shard, e.Seq, w.Key, held.StartTs, held.Primary, held.Keep)
		}
		if w.Unlock {
			delete(locks, string(w.Key))
		}
	}
}

// txnCommitted checks one newly committed entry of shard.
func (o *oracles) txnCommitted(shard uint32, e *wire.Entry) {
	o.lockCommitted(shard, e)
	if e.Kind != wire.Entry_TXN {
		return
	}
	for _, w := range e.Writes {
		l := w.Removed
		if l == nil || l.Keep {
			continue // a keep lock's end changes no value, whatever the fate
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
