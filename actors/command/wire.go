package command

import (
	"strconv"

	"castkv/actors/wire"
)

// ToWire is c as a data server receives it: parsed once, by the API server.
func ToWire(c *Command) *wire.Command {
	return &wire.Command{Kind: uint32(c.Kind), Name: c.Name, Keys: c.Keys, Values: c.Values, Nx: c.NX, Xx: c.XX, Get: c.Get, Txn: c.Txn,
		Ints: c.Ints, Incr: c.Incr}
}

// FromWire is a command a data server received, checked as Parse checks
// argv: the shape of each kind (keys, values, options) must be one Parse
// can produce. A malformed one, from a bug or a stray peer, gets an error
// reply and does nothing. The command's slices alias w's; Args is nil.
func FromWire(w *wire.Command) (*Command, *wire.Reply) {
	if w == nil {
		return nil, Error("ERR malformed command: none")
	}
	c := &Command{Kind: Kind(w.Kind), Name: w.Name, Keys: w.Keys, Values: w.Values, NX: w.Nx, XX: w.Xx, Get: w.Get, Txn: w.Txn,
		Ints: w.Ints, Incr: w.Incr}
	keys, values := len(c.Keys), len(c.Values)
	ok := true
	switch c.Kind {
	case Get:
		ok = keys == 1 && values == 0
	case Set, SetNX, SetXX, GetSet:
		ok = keys == 1 && values == 1
	case MGet, Exists, Del:
		ok = keys >= 1 && values == 0
	case MSet:
		ok = keys >= 1 && values == keys
	case DBSize, FlushAll, TxnLocks:
		ok = keys == 0 && values == 0
	case TxnPrewrite:
		ok = keys >= 1 && (values == keys) != (c.Txn != nil && c.Txn.Delete) && (values == 0 || values == keys)
	case TxnCommit:
		ok = keys >= 1 && values == 0 && c.Txn != nil && (c.Txn.CommitTs > c.Txn.StartTs || c.Txn.Rollback)
	case TxnCheck, TxnForget:
		ok = keys == 1 && values == 0
	case IncrBy:
		ok = keys == 1 && values == 0 && len(c.Ints) == 1
	case IncrByFloat:
		ok = keys == 1 && values == 0 && len(c.Incr) > 0
	case Append:
		ok = keys == 1 && values == 1
	case StrLen, GetDel, Type:
		ok = keys == 1 && values == 0
	case GetRange:
		ok = keys == 1 && values == 0 && len(c.Ints) == 2
	case SetRange:
		ok = keys == 1 && values == 1 && len(c.Ints) == 1 && c.Ints[0] >= 0
	default:
		ok = false
	}
	if len(c.Ints) > 0 && c.Kind != IncrBy && c.Kind != GetRange && c.Kind != SetRange || len(c.Incr) > 0 && c.Kind != IncrByFloat {
		ok = false
	}
	if c.Kind != Set && (c.NX || c.XX || c.Get) || c.NX && c.XX {
		ok = false
	}
	if isTxn := c.Kind >= TxnPrewrite && c.Kind <= TxnForget; isTxn != (c.Txn != nil) || isTxn && (c.Txn.StartTs == 0 || len(c.Txn.Primary) == 0) {
		ok = false
	}
	if !ok {
		return nil, Error("ERR malformed command: " + c.Kind.String() + " with " + strconv.Itoa(keys) + " keys and " + strconv.Itoa(values) + " values")
	}
	return c, nil
}
