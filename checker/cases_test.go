package checker

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Builders for hand-written histories.

func get(k string) Input          { return Input{Cmd: "get", Keys: []string{k}} }
func set(k, v string) Input       { return Input{Cmd: "set", Keys: []string{k}, Values: []string{v}} }
func mget(ks ...string) Input     { return Input{Cmd: "mget", Keys: ks} }
func exists(ks ...string) Input   { return Input{Cmd: "exists", Keys: ks} }
func del(ks ...string) Input      { return Input{Cmd: "del", Keys: ks} }
func global(name string) Input    { return Input{Cmd: name} }
func withNX(in Input) Input       { in.NX = true; return in }
func withXX(in Input) Input       { in.XX = true; return in }
func withGet(in Input) Input      { in.Get = true; return in }
func setnxLike(k, v string) Input { return Input{Cmd: "setnx", Keys: []string{k}, Values: []string{v}} }
func one(name, k, v string) Input { return Input{Cmd: name, Keys: []string{k}, Values: []string{v}} }
func incrby(k string, n int64) Input {
	return Input{Cmd: "incrby", Keys: []string{k}, Incr: n}
}
func setPX(k, v string, ms int64) Input {
	return Input{Cmd: "set", Keys: []string{k}, Values: []string{v}, PX: ms}
}
func pexpire(k string, ms int64) Input { return Input{Cmd: "pexpire", Keys: []string{k}, PX: ms} }
func msetnx(kvs ...string) Input       { in := mset(kvs...); in.Cmd = "msetnx"; return in }
func rename(src, dst string) Input     { return Input{Cmd: "rename", Keys: []string{src, dst}} }

// exec builds a MULTI block; its Keys are its commands' keys, each once.
func exec(subs ...Input) Input {
	in := Input{Cmd: "exec", Sub: subs}
	for _, sub := range subs {
		if !slices.Contains(in.Keys, sub.Keys[0]) {
			in.Keys = append(in.Keys, sub.Keys[0])
		}
	}
	return in
}

// items builds an exec's reply.
func items(outs ...Output) Output { return Output{Kind: OutArray, Items: outs} }

func mset(kvs ...string) (in Input) {
	in.Cmd = "mset"
	for i := 0; i < len(kvs); i += 2 {
		in.Keys, in.Values = append(in.Keys, kvs[i]), append(in.Values, kvs[i+1])
	}
	return in
}

var (
	replyOK  = Output{Kind: OutOK}
	replyNil = Output{Kind: OutNil}
)

func bulk(v string) Output    { return Output{Kind: OutBulk, Str: v} }
func integer(n int64) Output  { return Output{Kind: OutInt, Int: n} }
func refused(e string) Output { return Output{Kind: OutErr, Err: e} }

// arr builds an MGET reply; "<nil>" stands for a nil entry.
func arr(vs ...string) Output {
	out := Output{Kind: OutArray}
	for _, v := range vs {
		if v == "<nil>" {
			out.Strs = append(out.Strs, nil)
		} else {
			out.Strs = append(out.Strs, &v)
		}
	}
	return out
}

// sec is a second of the history's time.
const sec = int64(1e9)

func op(client int, call, ret int64, in Input, out Output) Op {
	return Op{Client: client, Call: call, Return: ret, Input: in, Output: out}
}

// unknown is an op whose outcome the client never learned.
func unknown(client int, call int64, in Input) Op {
	return Op{Client: client, Call: call, Return: call + 1000, Input: in, Output: refused("UNCERTAIN timeout"), Unknown: true}
}

func TestCases(t *testing.T) {
	cases := []struct {
		name string
		ops  []Op
		want bool // linearizable
	}{
		// Expiry, in seconds of the history's time: a TTL of 60 s set in
		// [0, 1 s] expires within [0+60·0.98-12, 1+60·1.02+6] s.
		{"a key read live before its window and gone after it", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(1, 40*sec, 41*sec, get("x"), bulk("v")),
			op(1, 70*sec, 71*sec, get("x"), replyNil),
			op(1, 72*sec, 73*sec, exists("x"), integer(0)),
		}, true},
		{"a key read live after every client could have seen it expired", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(1, 69*sec, 70*sec, get("x"), bulk("v")),
		}, false},
		{"a key gone long before its TTL", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(1, 20*sec, 21*sec, get("x"), replyNil),
		}, false},
		{"within the window either, but never live again once seen gone", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(1, 50*sec, 51*sec, get("x"), replyNil),
			op(2, 52*sec, 53*sec, get("x"), bulk("v")),
		}, false},
		{"within the window, live then gone", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(1, 50*sec, 51*sec, get("x"), bulk("v")),
			op(2, 52*sec, 53*sec, setnxLike("x", "w"), integer(1)),
			op(2, 54*sec, 55*sec, get("x"), bulk("w")),
			op(2, 90*sec, 91*sec, get("x"), bulk("w")), // SETNX set no expiry
		}, true},
		{"a plain SET drops the expiry", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(0, 2*sec, 3*sec, set("x", "v"), replyOK),
			op(1, 90*sec, 91*sec, get("x"), bulk("v")),
		}, true},
		{"incrby keeps the expiry", []Op{
			op(0, 0, sec, setPX("x", "5", 60_000), replyOK),
			op(0, 2*sec, 3*sec, incrby("x", 1), integer(6)),
			op(1, 90*sec, 91*sec, get("x"), bulk("6")),
		}, false},
		{"pexpire sets an expiry on a live key, and answers 0 on an absent one", []Op{
			op(0, 0, sec, set("x", "v"), replyOK),
			op(0, 2*sec, 3*sec, pexpire("x", 30_000), integer(1)),
			op(0, 2*sec, 3*sec, pexpire("y", 30_000), integer(0)),
			op(1, 60*sec, 61*sec, mget("x", "y"), arr("<nil>", "<nil>")),
		}, true},
		{"pexpire's key outlives its window", []Op{
			op(0, 0, sec, set("x", "v"), replyOK),
			op(0, 2*sec, 3*sec, pexpire("x", 30_000), integer(1)),
			op(1, 60*sec, 61*sec, get("x"), bulk("v")),
		}, false},
		{"an expiry of unknown outcome may have taken effect", []Op{
			op(0, 0, sec, set("x", "v"), replyOK),
			unknown(0, 2*sec, setPX("x", "w", 1_000)),
			op(1, 60*sec, 61*sec, get("x"), replyNil),
		}, true},
		{"incrby counts from absent, then from a set integer", []Op{
			op(0, 0, 10, incrby("x", 1), integer(1)),
			op(0, 20, 30, incrby("x", -3), integer(-2)),
			op(0, 40, 50, get("x"), bulk("-2")),
			op(0, 60, 70, set("x", "10"), replyOK),
			op(1, 80, 90, incrby("x", 5), integer(15)),
		}, true},
		{"incrby applied twice (a retry executed again)", []Op{
			op(0, 0, 10, incrby("x", 1), integer(1)),
			op(1, 20, 30, get("x"), bulk("2")),
		}, false},
		{"incrby of unknown outcome explains a later count", []Op{
			unknown(0, 0, incrby("x", 1)),
			op(1, 50, 60, incrby("x", 1), integer(2)),
		}, true},
		{"incrby of unknown outcome counted twice", []Op{
			unknown(0, 0, incrby("x", 1)),
			op(1, 50, 60, incrby("x", 1), integer(3)),
		}, false},
		{"incrby refused on a value that is not an integer", []Op{
			op(0, 0, 10, set("x", "v"), replyOK),
			op(1, 20, 30, incrby("x", 1), refused(NotIntegerError)),
			op(1, 40, 50, get("x"), bulk("v")),
		}, true},
		{"incrby refused on an integer", []Op{
			op(0, 0, 10, set("x", "7"), replyOK),
			op(1, 20, 30, incrby("x", 1), refused(NotIntegerError)),
		}, false},
		{"incrby refused on an absent key", []Op{
			op(1, 20, 30, incrby("x", 1), refused(NotIntegerError)),
		}, false},
		{"incrby reads a value no one wrote as an integer", []Op{
			op(0, 0, 10, set("x", "07"), replyOK),
			op(1, 20, 30, incrby("x", 1), integer(8)),
		}, false},
		{"an unknown set read through incrby keeps the set", []Op{
			unknown(0, 0, set("x", "v")),
			op(1, 50, 60, incrby("x", 1), refused(NotIntegerError)),
			op(1, 70, 80, get("x"), bulk("v")),
		}, true},
		{"a set the incrby made is the same value", []Op{
			op(0, 0, 10, incrby("x", 5), integer(5)),
			op(1, 20, 30, setnxLike("x", "5"), integer(0)),
			op(1, 40, 50, set("y", "5"), replyOK),
			op(1, 60, 70, mget("x", "y"), arr("5", "5")),
		}, true},
		{"stale read after acknowledged write", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(1, 20, 30, get("x"), replyNil),
		}, false},
		{"read of an overwritten value", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(0, 20, 30, set("x", "2"), replyOK),
			op(1, 40, 50, get("x"), bulk("1")),
		}, false},
		{"read concurrent with write sees old value", []Op{
			op(0, 0, 100, set("x", "1"), replyOK),
			op(1, 10, 20, get("x"), replyNil),
		}, true},
		{"read concurrent with write sees new value", []Op{
			op(0, 0, 100, set("x", "1"), replyOK),
			op(1, 10, 20, get("x"), bulk("1")),
		}, true},
		{"reads concurrent with write see new then old", []Op{
			op(0, 0, 100, set("x", "1"), replyOK),
			op(1, 10, 20, get("x"), bulk("1")),
			op(1, 30, 40, get("x"), replyNil),
		}, false},
		{"concurrent writes, the first invoked wins", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(1, 5, 10, set("x", "2"), replyOK),
			op(1, 20, 30, get("x"), bulk("1")),
		}, true},
		{"concurrent writes, the last invoked wins", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(1, 5, 10, set("x", "2"), replyOK),
			op(1, 20, 30, get("x"), bulk("2")),
		}, true},
		{"concurrent writes, reads disagree on the winner", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(1, 5, 10, set("x", "2"), replyOK),
			op(1, 20, 30, get("x"), bulk("2")),
			op(2, 20, 30, get("x"), bulk("1")),
		}, false},
		{"closed intervals: touching ops are concurrent", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(1, 10, 20, get("x"), replyNil),
		}, true},
		{"unknown write becomes visible later", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, get("x"), replyNil),
			op(2, 70, 80, get("x"), bulk("1")),
		}, true},
		{"unknown write never visible", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, get("x"), replyNil),
			op(1, 5000, 5010, get("x"), replyNil),
		}, true},
		{"unknown write visible then gone", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, get("x"), bulk("1")),
			op(1, 70, 80, get("x"), replyNil),
		}, false},
		{"unknown write read before it was invoked", []Op{
			op(1, 0, 10, get("x"), bulk("1")),
			unknown(0, 20, set("x", "1")),
		}, false},
		{"unknown write explains existence", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, exists("x"), integer(1)),
			op(1, 70, 80, set("x", "2"), replyOK),
			op(1, 90, 100, get("x"), bulk("2")),
		}, true},
		{"unknown write explains dbsize", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, global("dbsize"), integer(1)),
			op(1, 70, 80, set("x", "2"), replyOK),
			op(1, 90, 100, get("x"), bulk("2")),
		}, true},
		{"unknown write explains setnx 0", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, one("setnx", "x", "2"), integer(0)),
			op(1, 70, 80, set("x", "3"), replyOK),
			op(1, 90, 100, get("x"), bulk("3")),
		}, true},
		{"unknown write explains del 1", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, del("x", "x"), integer(1)),
			op(1, 90, 100, get("x"), replyNil),
		}, true},
		{"unknown write cannot explain setnx 1", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 50, 60, one("setnx", "x", "2"), integer(1)),
			op(1, 70, 80, one("setnx", "x", "3"), integer(1)),
		}, false},
		{"unknown write whose value another op also wrote", []Op{
			unknown(0, 0, mset("x", "1", "y", "w")),
			op(1, 10, 20, get("x"), replyNil),
			op(1, 30, 40, set("x", "1"), replyOK),
			op(1, 50, 60, get("x"), bulk("1")),
			op(1, 1000, 1010, get("y"), replyNil),
		}, true},
		{"unknown write bounded by its reader", []Op{
			unknown(0, 0, mset("x", "1", "y", "w")),
			op(1, 50, 60, get("x"), bulk("1")),
			op(1, 1000, 1010, get("y"), replyNil),
		}, false},
		{"unknown setnx loses to an acknowledged one", []Op{
			unknown(0, 0, one("setnx", "x", "a")),
			op(1, 5, 15, one("setnx", "x", "b"), integer(1)),
			op(1, 20, 30, get("x"), bulk("b")),
		}, true},
		{"unknown del", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			unknown(1, 20, del("x")),
			op(2, 30, 40, get("x"), bulk("1")),
			op(2, 50, 60, get("x"), replyNil),
		}, true},
		{"refused write never takes effect", []Op{
			op(0, 0, 10, set("x", "1"), refused("TRYAGAIN shard 3 moving")),
			op(1, 20, 30, get("x"), bulk("1")),
		}, false},
		{"refused write, nothing read", []Op{
			op(0, 0, 10, set("x", "1"), refused("TRYAGAIN shard 3 moving")),
			op(1, 20, 30, get("x"), replyNil),
		}, true},
		{"lost acknowledged write seen by a final read", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(1, 5, 15, set("y", "2"), replyOK),
			unknown(2, 20, set("x", "3")),
			op(3, 10000, 10010, get("x"), replyNil),
			op(3, 10020, 10030, get("y"), bulk("2")),
		}, false},
		{"final read after an unknown overwrite", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			unknown(2, 20, set("x", "3")),
			op(3, 10000, 10010, get("x"), bulk("3")),
		}, true},

		// MSET and MGET are one atomic step across keys.
		{"fractured mget during mset", []Op{
			op(0, 0, 10, mset("x", "0", "y", "0"), replyOK),
			op(0, 20, 100, mset("x", "1", "y", "1"), replyOK),
			op(1, 30, 40, mget("x", "y"), arr("1", "0")),
		}, false},
		{"mget during mset sees before", []Op{
			op(0, 0, 10, mset("x", "0", "y", "0"), replyOK),
			op(0, 20, 100, mset("x", "1", "y", "1"), replyOK),
			op(1, 30, 40, mget("x", "y"), arr("0", "0")),
		}, true},
		{"mget during mset sees after", []Op{
			op(0, 0, 10, mset("x", "0", "y", "0"), replyOK),
			op(0, 20, 100, mset("x", "1", "y", "1"), replyOK),
			op(1, 30, 40, mget("x", "y"), arr("1", "1")),
		}, true},
		{"partial mset seen by single-key reads", []Op{
			op(0, 0, 100, mset("x", "1", "y", "1"), replyOK),
			op(1, 10, 20, get("x"), bulk("1")),
			op(1, 30, 40, get("y"), replyNil),
		}, false},
		{"mset names a key twice: last value wins", []Op{
			op(0, 0, 10, mset("x", "1", "x", "2"), replyOK),
			op(1, 20, 30, get("x"), bulk("2")),
		}, true},
		{"mget of absent and repeated keys", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(1, 20, 30, mget("x", "z", "x"), arr("1", "<nil>", "1")),
		}, true},

		// DEL counts distinct keys that existed; EXISTS counts every name.
		{"del counts distinct existing keys", []Op{
			op(0, 0, 10, mset("a", "1", "b", "2"), replyOK),
			op(0, 20, 30, del("a", "b", "a", "c"), integer(2)),
			op(0, 40, 50, exists("a", "b"), integer(0)),
		}, true},
		{"del counting a repeated key twice", []Op{
			op(0, 0, 10, mset("a", "1", "b", "2"), replyOK),
			op(0, 20, 30, del("a", "b", "a", "c"), integer(3)),
		}, false},
		{"del is atomic", []Op{
			op(0, 0, 10, mset("a", "1", "b", "2"), replyOK),
			op(0, 20, 100, del("a", "b"), integer(2)),
			op(1, 30, 40, mget("a", "b"), arr("<nil>", "2")),
		}, false},
		{"exists counts a repeated key twice", []Op{
			op(0, 0, 10, set("a", "1"), replyOK),
			op(0, 20, 30, exists("a", "a", "b"), integer(2)),
		}, true},
		{"exists counting distinct keys", []Op{
			op(0, 0, 10, set("a", "1"), replyOK),
			op(0, 20, 30, exists("a", "a", "b"), integer(1)),
		}, false},

		// DBSIZE and FLUSHALL span every key.
		{"dbsize across keys", []Op{
			op(0, 0, 10, set("a", "1"), replyOK),
			op(1, 0, 10, set("b", "1"), replyOK),
			op(0, 20, 30, mset("c", "1", "d", "2"), replyOK),
			op(1, 40, 50, global("dbsize"), integer(4)),
		}, true},
		{"dbsize missing a key", []Op{
			op(0, 0, 10, set("a", "1"), replyOK),
			op(1, 0, 10, set("b", "1"), replyOK),
			op(0, 20, 30, mset("c", "1", "d", "2"), replyOK),
			op(1, 40, 50, global("dbsize"), integer(3)),
		}, false},
		{"dbsize concurrent with a write, either count", []Op{
			op(0, 0, 10, set("a", "1"), replyOK),
			op(0, 20, 100, set("b", "1"), replyOK),
			op(1, 30, 40, global("dbsize"), integer(1)),
			op(1, 50, 60, global("dbsize"), integer(2)),
		}, true},
		{"dbsize counts down during a write", []Op{
			op(0, 0, 10, set("a", "1"), replyOK),
			op(0, 20, 100, set("b", "1"), replyOK),
			op(1, 30, 40, global("dbsize"), integer(2)),
			op(1, 50, 60, global("dbsize"), integer(1)),
		}, false},
		{"flushall empties every key", []Op{
			op(0, 0, 10, mset("a", "1", "b", "2"), replyOK),
			op(0, 20, 30, global("flushall"), replyOK),
			op(1, 40, 50, global("dbsize"), integer(0)),
			op(1, 60, 70, get("a"), replyNil),
			op(1, 60, 70, one("setnx", "b", "3"), integer(1)),
		}, true},
		{"flushdb leaves a key behind", []Op{
			op(0, 0, 10, mset("a", "1", "b", "2"), replyOK),
			op(0, 20, 30, global("flushdb"), replyOK),
			op(1, 40, 50, get("b"), bulk("2")),
		}, false},

		// SET options, SETNX, SETXX and GETSET.
		{"set NX GET on an absent key writes and returns nil", []Op{
			op(0, 0, 10, withGet(withNX(set("x", "1"))), replyNil),
			op(0, 20, 30, get("x"), bulk("1")),
		}, true},
		{"set NX GET on a present key returns it and does not write", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(0, 20, 30, withGet(withNX(set("x", "2"))), bulk("1")),
			op(0, 40, 50, get("x"), bulk("1")),
		}, true},
		{"set NX that did not write", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(0, 20, 30, withNX(set("x", "2")), replyOK),
		}, false},
		{"set XX on an absent key", []Op{
			op(0, 0, 10, withXX(set("x", "1")), replyNil),
			op(0, 20, 30, withXX(withGet(set("x", "2"))), replyNil),
			op(0, 40, 50, get("x"), replyNil),
		}, true},
		{"set XX GET on a present key", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(0, 20, 30, withXX(withGet(set("x", "2"))), bulk("1")),
			op(0, 40, 50, get("x"), bulk("2")),
		}, true},
		{"set GET of the empty string is not nil", []Op{
			op(0, 0, 10, set("x", ""), replyOK),
			op(0, 20, 30, withGet(set("x", "2")), replyNil),
		}, false},
		{"setnx and setxx", []Op{
			op(0, 0, 10, one("setxx", "x", "0"), integer(0)),
			op(0, 20, 30, one("setnx", "x", "1"), integer(1)),
			op(0, 40, 50, one("setnx", "x", "2"), integer(0)),
			op(0, 60, 70, one("setxx", "x", "3"), integer(1)),
			op(0, 80, 90, one("getset", "x", "4"), bulk("3")),
			op(0, 100, 110, get("x"), bulk("4")),
		}, true},
		{"two setnx both win", []Op{
			op(0, 0, 10, one("setnx", "x", "1"), integer(1)),
			op(1, 5, 15, one("setnx", "x", "2"), integer(1)),
		}, false},
		{"getset on an absent key", []Op{
			op(0, 0, 10, one("getset", "x", "1"), replyNil),
			op(0, 20, 30, one("getset", "x", "2"), bulk("1")),
		}, true},
		{"reply of the wrong shape", []Op{
			op(0, 0, 10, get("x"), integer(0)),
		}, false},

		// MSETNX: all or nothing.
		{"msetnx writes every key when none exists", []Op{
			op(0, 0, 10, msetnx("x", "1", "y", "2"), integer(1)),
			op(1, 20, 30, mget("x", "y"), arr("1", "2")),
			op(1, 40, 50, msetnx("y", "3", "z", "4"), integer(0)),
			op(1, 60, 70, mget("y", "z"), arr("2", "<nil>")),
		}, true},
		{"msetnx half applied", []Op{
			op(0, 0, 10, set("y", "0"), replyOK),
			op(0, 20, 30, msetnx("x", "1", "y", "2"), integer(0)),
			op(1, 40, 50, get("x"), bulk("1")),
		}, false},
		{"msetnx seen half done by a concurrent mget", []Op{
			op(0, 0, 100, msetnx("x", "1", "y", "2"), integer(1)),
			op(1, 10, 20, mget("x", "y"), arr("1", "<nil>")),
		}, false},
		{"msetnx answered 1 over a present key", []Op{
			op(0, 0, 10, set("x", "0"), replyOK),
			op(0, 20, 30, msetnx("x", "1", "y", "2"), integer(1)),
		}, false},
		{"msetnx of unknown outcome, later read", []Op{
			unknown(0, 0, msetnx("x", "1", "y", "2")),
			op(1, 20, 30, mget("x", "y"), arr("<nil>", "<nil>")),
			op(1, 40, 50, mget("x", "y"), arr("1", "2")),
		}, true},

		// EXEC runs its block as one step.
		{"exec's block is one step", []Op{
			op(0, 0, 10, set("x", "0"), replyOK),
			op(0, 20, 100, exec(incrby("x", 2), set("y", "a"), get("x"), del("x")), items(integer(2), replyOK, bulk("2"), integer(1))),
			op(1, 30, 40, mget("x", "y"), arr("0", "<nil>")),
			op(1, 110, 120, mget("x", "y"), arr("<nil>", "a")),
		}, true},
		{"exec seen half done", []Op{
			op(0, 0, 100, exec(set("x", "1"), set("y", "2")), items(replyOK, replyOK)),
			op(1, 10, 20, mget("x", "y"), arr("1", "<nil>")),
		}, false},
		{"exec's command answered as if alone", []Op{
			op(0, 0, 10, exec(set("x", "1"), get("x")), items(replyOK, replyNil)),
		}, false},
		{"exec's refused incr changes nothing and the block goes on", []Op{
			op(0, 0, 10, set("x", "a"), replyOK),
			op(0, 20, 30, exec(incrby("x", 1), set("y", "b")), items(refused(NotIntegerError), replyOK)),
			op(1, 40, 50, mget("x", "y"), arr("a", "b")),
		}, true},
		{"exec of unknown outcome, all or nothing", []Op{
			unknown(0, 0, exec(set("x", "1"), set("y", "2"))),
			op(1, 20, 30, get("x"), bulk("1")),
			op(1, 40, 50, get("y"), replyNil),
		}, false},
		{"exec of unknown outcome, read later", []Op{
			unknown(0, 0, exec(set("x", "1"), set("y", "2"))),
			op(1, 20, 30, get("y"), replyNil),
			op(1, 40, 50, mget("x", "y"), arr("1", "2")),
		}, true},
		{"a value only an exec read bounds its unknown write", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 20, 30, exec(get("x"), set("y", "2")), items(bulk("1"), replyOK)),
		}, true},

		// RENAME moves the value and its expiry.
		{"rename moves the value", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(0, 20, 30, rename("x", "y"), replyOK),
			op(1, 40, 50, mget("x", "y"), arr("<nil>", "1")),
			op(1, 60, 70, rename("x", "y"), refused(NoSuchKeyError)),
		}, true},
		{"rename of an absent source answered OK", []Op{
			op(0, 0, 10, rename("x", "y"), replyOK),
		}, false},
		{"rename refused though its source exists", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(0, 20, 30, rename("x", "y"), refused(NoSuchKeyError)),
		}, false},
		{"rename leaves the source behind", []Op{
			op(0, 0, 10, set("x", "1"), replyOK),
			op(0, 20, 30, rename("x", "y"), replyOK),
			op(1, 40, 50, get("x"), bulk("1")),
		}, false},
		{"a renamed key keeps its expiry", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(0, 2*sec, 3*sec, rename("x", "y"), replyOK),
			op(1, 90*sec, 91*sec, get("y"), bulk("v")),
		}, false},
		{"a renamed key expires in its window", []Op{
			op(0, 0, sec, setPX("x", "v", 60_000), replyOK),
			op(0, 2*sec, 3*sec, rename("x", "y"), replyOK),
			op(1, 40*sec, 41*sec, get("y"), bulk("v")),
			op(1, 90*sec, 91*sec, get("y"), replyNil),
		}, true},
		{"a value moved by rename is the read of an unknown write", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 20, 30, rename("x", "y"), replyOK),
			op(1, 40, 50, get("y"), bulk("1")),
		}, true},
		{"an unknown write whose key a rename later finds present", []Op{
			unknown(0, 0, set("x", "1")),
			op(1, 20, 30, rename("x", "y"), replyOK),
			op(1, 40, 50, del("y"), integer(1)),
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(tc.ops, 0)
			if res.Linearizable != tc.want || res.TimedOut {
				t.Errorf("got %s, want linearizable=%v%s", res, tc.want, describeHistory(tc.ops))
			}
		})
	}
}

func TestComponents(t *testing.T) {
	ops := []Op{
		op(0, 0, 10, set("a", "1"), replyOK),
		op(0, 20, 30, set("b", "1"), replyOK),
		op(0, 40, 50, mset("a", "2", "c", "3"), replyOK),
		op(1, 0, 10, mget("d", "e"), arr("<nil>", "<nil>")),
		op(1, 20, 30, get("f"), refused("TRYAGAIN")),                                                  // dropped: no component for f
		unknown(2, 0, get("g")),                                                                       // dropped
		op(3, 0, 10, Input{Cmd: "mget"}, refused("ERR wrong number of arguments for 'mget' command")), // dropped, never validated
	}
	res := Check(ops, 0)
	// {a c}, {b}, {d e}
	if !res.Linearizable || res.Components != 3 || res.Ops != 4 || res.Dropped != 3 {
		t.Errorf("got %s, want linearizable: 4 ops (3 dropped) in 3 components", res)
	}
	ops = append(ops, op(4, 60, 70, global("dbsize"), integer(3)))
	if res := Check(ops, 0); !res.Linearizable || res.Components != 1 {
		t.Errorf("with dbsize: got %s, want linearizable in 1 component", res)
	}
}

func TestCheckPanicsOnMalformedOp(t *testing.T) {
	for name, o := range map[string]Op{
		"unknown command":     op(0, 0, 10, Input{Cmd: "incr", Keys: []string{"x"}}, integer(1)),
		"mset values":         op(0, 0, 10, Input{Cmd: "mset", Keys: []string{"x", "y"}, Values: []string{"1"}}, replyOK),
		"option on get":       op(0, 0, 10, withNX(get("x")), replyNil),
		"NX and XX":           op(0, 0, 10, withXX(withNX(set("x", "1"))), replyOK),
		"return before call":  op(0, 10, 0, get("x"), replyNil),
		"output kind not set": op(0, 0, 10, get("x"), Output{}),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("Check accepted %s", o)
				}
			}()
			Check([]Op{o}, 0)
		})
	}
}

func TestWriteHTML(t *testing.T) {
	dir := t.TempDir()
	bad := []Op{
		op(0, 0, 10, withNX(set("x", "v")), replyOK),
		op(1, 20, 30, get("x"), replyNil),
		op(2, 0, 10, set("other", "1"), replyOK),
	}
	res := Check(bad, 0)
	if res.Linearizable || !slices.EqualFunc(res.Failed, [][]string{{"x"}}, slices.Equal) {
		t.Fatalf("got %s, failed %q; want a violation on x", res, res.Failed)
	}
	if want := "NOT linearizable on keys {x}: 3 ops in 2 components (0 dropped)"; res.String() != want {
		t.Errorf("got %s, want %s", res, want)
	}
	path := filepath.Join(dir, "violation.html")
	if err := res.WriteHTML(path); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Descriptions sit JSON-encoded in the page: quotes escaped, '>' as \u003e.
	for _, want := range []string{`set x \"v\" NX -\u003e OK`, `get x -\u003e nil`, `{x: \"v\"}`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("visualization lacks %s", want)
		}
	}
	if strings.Contains(string(html), "set other") {
		t.Errorf("visualization shows a component that did not fail")
	}

	good := Check(bad[2:], 0)
	path = filepath.Join(dir, "ok.html")
	if err := good.WriteHTML(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("visualization of a linearizable history: %v, %v", fi, err)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{op(0, 0, 1, withNX(set("k1", "v")), replyOK), `set k1 "v" NX -> OK`},
		{op(0, 0, 1, withGet(withXX(set("k1", "v"))), replyNil), `set k1 "v" XX GET -> nil`},
		{op(0, 0, 1, mset("a", "1", "b", "2"), replyOK), `mset a "1" b "2" -> OK`},
		{op(0, 0, 1, mget("a", "b"), arr("1", "<nil>")), `mget a b -> ["1" nil]`},
		{op(0, 0, 1, del("a", "b"), integer(2)), `del a b -> 2`},
		{op(0, 0, 1, get("a key"), refused("TRYAGAIN moving")), `get "a key" -> (error) TRYAGAIN moving`},
		{unknown(0, 0, set("a", "1")), `set a "1" -> ? (unknown: UNCERTAIN timeout)`},
		{op(0, 0, 1, one("getset", "a", strings.Repeat("x", 50)), replyNil), `getset a "` + strings.Repeat("x", 40) + `"…(50 bytes) -> nil`},
	} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}
