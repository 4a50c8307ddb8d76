package command

import (
	"strconv"

	"castkv/actors/wire"
)

// Kind is what a command does. FLUSHDB and FLUSHALL share FlushAll: castkv
// has one database, so they mean the same thing.
type Kind uint8

// The zero Kind is no command; Parse never returns it.
const (
	Get Kind = iota + 1
	Set
	SetNX
	SetXX
	GetSet
	MGet
	MSet
	Exists
	Del
	DBSize
	FlushAll
	// ClusterInfo and ClusterShards (CLUSTER INFO, CLUSTER SHARDS) describe
	// the cluster map; the API server answers them from its own map.
	ClusterInfo
	ClusterShards
	// The steps of a transaction across shards (actors/data/txn.go). Only
	// API servers send them, to data servers; Parse never returns them.
	// TxnPrewrite locks its keys with their writes (Values, or deletions
	// with Txn.Delete), or evaluates a MULTI block's commands on its shard
	// (Sub) and locks their keys with what they write; TxnCommit commits or rolls back its keys' locks;
	// TxnCheck asks a primary key's shard for the transaction's fate
	// (rolling back an expired one); TxnForget drops its record.
	TxnPrewrite
	TxnCommit
	TxnCheck
	TxnForget
	// TxnLocks asks each shard's primary for keys whose transaction locks
	// expired at the read's timestamp (the API's background resolver
	// reads them, which resolves their locks). Like DBSIZE it spans every
	// shard; unlike the Txn kinds above it names no transaction.
	TxnLocks
	// String commands of one key (string.go). IncrBy is INCR, DECR, INCRBY
	// and DECRBY, its step in Ints[0]; IncrByFloat's increment is Incr.
	IncrBy
	IncrByFloat
	Append
	StrLen
	GetDel
	GetRange // Ints: start, end
	SetRange // Ints: offset
	Type
	// MSetNX is MSETNX: MSET if none of its keys exists; 1 or 0. Across
	// shards it is a transaction that rolls back when a key exists.
	MSetNX
	// Multi is a MULTI block that is neither reads only nor writes only
	// (the RESP port runs those as one MGET or one MSET): its commands, in
	// Sub, run in order as one step at the shard's primary, each seeing
	// the writes of those before it, and its reply is the array of their
	// replies. Keys are every key of its commands; they must share a
	// shard. The port sends it as EXEC with each command's argument count
	// before it (ParseExec); clients cannot.
	Multi
	// Expiry (ttl.go). Expire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT,
	// the time in TTL and its conditions in NX, XX, GT and LT; Persist is
	// PERSIST; GetEx is GETEX, its option in TTL; TTLOf is TTL, PTTL,
	// EXPIRETIME and PEXPIRETIME (Name says which). SET's expiry options,
	// SETEX and PSETEX are Set with a TTL.
	Expire
	Persist
	GetEx
	TTLOf
	// Watch reads the versions of its keys for the RESP port's WATCH: its
	// reply is the read's timestamp, then each key's version (0: absent),
	// as integers. The port hands them back in the Watch of its block's
	// Multi. Clients cannot send it.
	Watch
	// Scan is SCAN (scan.go): one shard's keys from the cursor's place on.
	// KeysMatching is KEYS: every shard's keys matching a pattern.
	Scan
	KeysMatching
	// Rename is RENAME and RENAMENX (Name says which), Copy is COPY (its
	// REPLACE in XX): Keys are the source, then the destination, which
	// must share a shard (CROSSSLOT otherwise, as in Redis Cluster).
	Rename
	Copy
)

var kindNames = [...]string{
	Get:      "Get",
	Set:      "Set",
	SetNX:    "SetNX",
	SetXX:    "SetXX",
	GetSet:   "GetSet",
	MGet:     "MGet",
	MSet:     "MSet",
	Exists:   "Exists",
	Del:      "Del",
	DBSize:   "DBSize",
	FlushAll: "FlushAll",

	ClusterInfo:   "ClusterInfo",
	ClusterShards: "ClusterShards",
	TxnPrewrite:   "TxnPrewrite",
	TxnCommit:     "TxnCommit",
	TxnCheck:      "TxnCheck",
	TxnForget:     "TxnForget",
	TxnLocks:      "TxnLocks",
	IncrBy:        "IncrBy",
	IncrByFloat:   "IncrByFloat",
	Append:        "Append",
	StrLen:        "StrLen",
	GetDel:        "GetDel",
	GetRange:      "GetRange",
	SetRange:      "SetRange",
	Type:          "Type",
	MSetNX:        "MSetNX",
	Multi:         "Multi",
	Expire:        "Expire",
	Persist:       "Persist",
	GetEx:         "GetEx",
	TTLOf:         "TTLOf",
	Watch:         "Watch",
	Scan:          "Scan",
	KeysMatching:  "KeysMatching",
	Rename:        "Rename",
	Copy:          "Copy",
}

func (k Kind) String() string {
	if k == 0 || int(k) >= len(kindNames) {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Command is one parsed, validated client command. Its slices alias the
// arguments given to Parse.
type Command struct {
	Kind Kind
	// Name is the command's lowercase name as the client typed it:
	// "flushdb" and "flushall" are both FlushAll.
	Name string
	// Keys are the keys the command reads or writes, in argument order,
	// repeats included. DBSIZE and FLUSHALL have none (see AllKeys).
	Keys [][]byte
	// Values holds the value to write for each key of MSET, and the one
	// value of SET, SETNX, SETXX and GETSET.
	Values [][]byte
	// NX, XX and Get are SET's options.
	NX, XX, Get bool
	// Args is the argument vector as given to Parse, name first.
	Args [][]byte
	// Txn names the transaction of a Txn kind, and what it asks.
	Txn *wire.Txn
	// Ints are the integer arguments of IncrBy, GetRange and SetRange.
	Ints []int64
	// Incr is IncrByFloat's increment as typed.
	Incr []byte
	// Sub are a Multi's commands.
	Sub []*Command
	// TTL is the expiry a command sets: SET's EX, PX, EXAT, PXAT and
	// KEEPTTL, SETEX, PSETEX, GETEX's option, EXPIRE's time.
	TTL TTL
	// GT and LT are EXPIRE's options (NX and XX are its NX and XX).
	GT, LT bool
	// Watch is a Multi's WATCHed keys and their versions: the block runs
	// only if none changed (evalMulti).
	Watch *wire.Watch
}

// TTLKind is what a command does to its key's expiry.
type TTLKind uint8

const (
	// TTLNone: SET, GETSET, MSET and the like drop the key's expiry;
	// INCR, APPEND, SETRANGE and the like keep it, as in Redis.
	TTLNone    TTLKind = iota
	TTLIn              // expires Ms milliseconds after the command's timestamp
	TTLAt              // expires at unix millisecond Ms (of TSO time)
	TTLKeep            // SET ... KEEPTTL
	TTLPersist         // GETEX ... PERSIST
)

// TTL is an expiry as a command gives it.
type TTL struct {
	Kind TTLKind
	Ms   int64
}

// IsWrite reports whether the command may change the keyspace.
func (c *Command) IsWrite() bool {
	if c.Kind == Multi {
		for _, s := range c.Sub {
			if s.IsWrite() {
				return true
			}
		}
		return false
	}
	switch c.Kind {
	case Set, SetNX, SetXX, GetSet, MSet, Del, FlushAll, TxnPrewrite, TxnCommit, TxnCheck, TxnForget,
		IncrBy, IncrByFloat, Append, GetDel, SetRange, MSetNX, Expire, Persist, GetEx, Rename, Copy:
		return true
	}
	return false
}

// AllKeys reports whether the command touches the whole keyspace rather
// than the keys it names, so it spans every shard.
func (c *Command) AllKeys() bool {
	return c.Kind == DBSize || c.Kind == FlushAll || c.Kind == TxnLocks || c.Kind == KeysMatching
}

// ValuePositions gives the indexes into Args that hold values to write, in
// order, so that large values can be staged apart from the command. They
// line up with Values.
func (c *Command) ValuePositions() []int {
	switch c.Kind {
	case Set, SetNX, SetXX, GetSet:
		return []int{2}
	case MSet, MSetNX, TxnPrewrite:
		positions := make([]int, 0, len(c.Values))
		for i := range c.Values {
			positions = append(positions, 2+2*i)
		}
		return positions
	}
	return nil
}
