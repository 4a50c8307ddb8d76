package sim

import (
	"fmt"
	"sort"
	"strings"

	"castkv/actors"
	"castkv/actors/wire"
)

// Fault kinds the simulator injects.
const (
	FaultLoss      = "loss"      // messages dropped
	FaultDuplicate = "duplicate" // messages delivered twice
	FaultDelay     = "delay"     // long delays, hence reordering
	FaultPartition = "partition" // symmetric and one-way partitions
	FaultClog      = "clog"      // swizzle-clogging: links slowed one by one, then freed in reverse
	FaultCrash     = "crash"     // machine crash (unsynced data lost) and restart
	FaultPause     = "pause"     // process pause; its clock keeps running
	FaultDrift     = "drift"     // clock rate drift within the lease bound
	// Messages wait in their sender's queue while the receiver is down and
	// reach its next incarnation, as TCP with a sender-side queue can;
	// counted when one does.
	FaultLate      = "late"
	FaultAPICrash  = "api-crash"  // an API server crashes under load, sometimes in a loop
	FaultSlowDisk  = "slow-disk"  // one node's fsync is slow; it is busy while it syncs
	FaultLongPause = "long-pause" // a stop-the-world pause longer than a lease, mostly the primary's
	// A data server is lost for good (runs with a spare: more data servers
	// than replicas per shard): it never restarts, and its shards must come
	// back to full strength without it.
	FaultMachineLoss = "machine-loss"
	// The cluster changes under load: a data server joins the running
	// cluster and receives its share of replicas and primaries, or one is
	// drained (castd admin drain), each by replicas moved and primaries
	// handed over one at a time.
	FaultMembership = "membership"
	// Shards split under load: an operator splits shards (castd admin
	// split) at drawn times, and in some runs meta splits any shard past
	// a small size by itself.
	FaultSplit = "split"
	// Faults timed to the protocol: at a learner promotion, a config
	// change, a lease about to run out, a failover, crash or cut off the
	// nodes that matter then.
	FaultTimed = "timed"
)

// Counters in Result.Faults besides the kinds: what a fault kind did.
const (
	CountCrashTwoData  = "crash-two-data" // two data servers crashed at once
	CountCrashAllData  = "crash-all-data" // every data server crashed at once
	CountAPICrashLoop  = "api-crash-loop" // an API server crashed again soon after it restarted
	CountSlowSyncs     = "slow-syncs"     // fsyncs that kept a node busy
	CountCrashUnsynced = "crash-unsynced" // a crash lost writes whose sync was still running
	// Not faults, but what a run must reach to test them: the protocol's
	// rarer paths.
	CountCompaction = "log-compaction"     // a replica dropped applied entries from its log
	CountSnapshot   = "snapshot-installed" // a replica installed a snapshot
	// A write's replaced version came from the primary's cache, not its
	// store (data.versionCache): the path the applied-state shape oracle
	// watches.
	CountVersionCacheHits = "version-cache-hits"
	// Reads at a timestamp (actors/data/timestamps.go): one split over
	// shards, one that waited for a sequenced write below its timestamp,
	// and one refused TS_TOO_OLD.
	CountSplitRead = "split-read"
	CountReadWait  = "read-waited"
	CountTSTooOld  = "ts-too-old"
	// An INCR family command counted (not refused: its key held an
	// integer, or nothing).
	CountIncr = "incr-counted"
	// An acknowledged write gave a key a time to live (SET PX, PEXPIRE
	// answered 1), and the keys primaries reclaimed once expired, summed
	// over replicas (actors/data/expire.go).
	CountTTLSet          = "ttl-set"
	CountExpiryReclaimed = "expiry-reclaimed"
	// An MSETNX that wrote its keys (answered 1), a RENAME that moved a
	// value (answered OK), and a MULTI block that ran (EXEC answered).
	CountMSetNX           = "msetnx-written"
	CountRename           = "rename-moved"
	CountExec             = "exec-ran"
	CountStall            = "stall"              // a long pause froze a handler's replies
	CountMetaPromotion    = "meta-promotion"     // meta restarted during a learner promotion
	CountMetaFailover     = "meta-failover"      // meta restarted during a failover
	CountMetaLeaderChange = "meta-leader-change" // another meta member took over as leader
	CountAbort            = "abort"              // an API server asked a primary to settle a write that timed out
	CountTimedPromote     = "timed-promotion"    // acted when a primary asked to promote a learner
	CountTimedConfig      = "timed-config"       // acted when a config version changed
	CountTimedLease       = "timed-lease"        // acted when the primary's lease was about to run out
	CountTimedMetaLease   = "timed-meta-lease"   // the meta leader failed or was cut off right after a grant
	CountTimedReply       = "timed-stale-reply"  // kept a read reply for the API's next incarnation
	CountTimedUnsynced    = "timed-unsynced"     // crashed a data server while its writes waited for their sync
	CountTimedTxnCrash    = "timed-txn-crash"    // crashed an API server between a transaction's prewrite and its commit
	CountTimedTxnLate     = "timed-txn-late"     // held a prewrite of a primary key back past its lock's TTL
	CountTimedHandover    = "timed-handover"     // crashed or cut off the meta leader or the primary as a handover began
	// Transactions across shards (actors/api/txn.go): commits of a
	// primary key sent, and lock resolutions begun (TxnCheck sent).
	CountTxnCommit  = "txn-commit"
	CountTxnResolve = "txn-resolve"
	// The API's background lock resolver (actors/api/resolver.go): shards
	// it asked for expired locks, and the expired locks they named.
	CountResolverScan  = "resolver-scan"
	CountResolverLocks = "resolver-expired-locks"
	// Transaction records dropped below the gc point, summed over replicas
	// (actors/data/gc.go).
	CountTxnCollected = "txn-records-collected"
	// Membership (FaultMembership): a data server joined, one was drained,
	// and what the balancer did: replicas moved (a member dropped after
	// its replacement was promoted) and primaries handed over.
	// Splits (FaultSplit): asked for by an operator and accepted, and
	// performed (a replica applied a split barrier and started the child).
	CountSplitAsked = "split-asked"
	CountSplit      = "split-applied"
	CountJoin       = "server-joined"
	CountDrain      = "server-drained"
	CountMove       = "replica-moved"
	CountHandover   = "primary-handover"
)

// AllFaults lists every fault kind, sorted.
var AllFaults = []string{FaultAPICrash, FaultClog, FaultCrash, FaultDelay, FaultDrift, FaultDuplicate, FaultLate,
	FaultLongPause, FaultLoss, FaultMachineLoss, FaultMembership, FaultPartition, FaultPause, FaultSlowDisk, FaultSplit, FaultTimed}

// FaultSet is the set of enabled fault kinds.
type FaultSet map[string]bool

// ParseFaults reads "all", "none" or a comma-separated list of kinds.
func ParseFaults(s string) (FaultSet, error) {
	set := FaultSet{}
	switch s {
	case "", "all":
		for _, f := range AllFaults {
			set[f] = true
		}
		return set, nil
	case "none":
		return set, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !knownFault(f) {
			return nil, fmt.Errorf("unknown fault %q (known: all, none, %s)", f, strings.Join(AllFaults, ", "))
		}
		set[f] = true
	}
	return set, nil
}

func knownFault(f string) bool {
	for _, k := range AllFaults {
		if k == f {
			return true
		}
	}
	return false
}

// String lists the set's kinds, sorted and comma-separated ("none" if empty).
func (s FaultSet) String() string {
	if len(s) == 0 {
		return "none"
	}
	var names []string
	for f, on := range s {
		if on {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	if len(names) == len(AllFaults) {
		return "all"
	}
	return strings.Join(names, ",")
}

// asksAbort reports whether msg (alone or in a batch) asks a primary to
// settle a write by aborting it.
func asksAbort(msg actors.Msg) bool {
	switch x := msg.(type) {
	case *wire.Commit:
		return x.Abort
	case *wire.Requests:
		for _, c := range x.Commits {
			if c.Abort {
				return true
			}
		}
	}
	return false
}
