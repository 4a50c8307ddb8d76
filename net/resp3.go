package net

import (
	"slices"
	"strconv"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// RESP3 (HELLO 3). A connection speaks RESP2 until HELLO 3 and again after
// HELLO 2 or RESET, as in Redis 7; each reply is encoded in the protocol
// its connection spoke when its command was read (respPending.proto), so
// HELLO's own reply is already in the protocol it chose.
//
// The two protocols differ, for what castkv answers, only in shapes RESP2
// lacks, which Redis 7.2 writes in RESP2 as their nearest RESP2 type:
//
//   - null: "_" for both nil bulk ($-1) and nil array (*-1);
//   - map (addReplyMapLen): "%n" and n key-value pairs; RESP2 a flat array;
//   - set (addReplySetLen): "~n"; RESP2 an array;
//   - verbatim string (addReplyVerbatim): "=len" and "txt:" before the
//     text; RESP2 a bulk string.
//
// castkv's commands have no double reply: INCRBYFLOAT answers a bulk string
// in RESP3 too (incrbyfloatCommand's addReplyBulk).
//
// A wire.Reply is a RESP2 value, and the Gateway's replies are RESP2 values
// with none of these shapes. So the shapes are marked by the port on the
// replies it builds, in Reply.str, which ARRAY, BULK and NIL replies
// otherwise leave empty: respMap, respSet, respVerbatim and respNullArray
// make them, and respAppend writes them. They never leave the port.
const (
	respShapeMap       = "map"   // on an ARRAY of key, value, ...
	respShapeSet       = "set"   // on an ARRAY
	respShapeVerbatim  = "txt"   // on a BULK: its verbatim format
	respShapeNullArray = "array" // on a NIL: RESP2's *-1
)

// respMap is a map reply of key, value, ... pairs.
func respMap(kv ...*wire.Reply) *wire.Reply {
	if len(kv)%2 != 0 {
		panic("resp: a map reply of " + strconv.Itoa(len(kv)) + " elements, not key-value pairs")
	}
	r := command.Array(kv...)
	r.Str = respShapeMap
	return r
}

// respSet is a set reply of elems.
func respSet(elems ...*wire.Reply) *wire.Reply {
	r := command.Array(elems...)
	r.Str = respShapeSet
	return r
}

// respVerbatim is a verbatim string reply of plain text.
func respVerbatim(text string) *wire.Reply {
	r := command.Bulk([]byte(text))
	r.Str = respShapeVerbatim
	return r
}

// respNullArray is the nil array reply (EXEC after a watched key changed).
func respNullArray() *wire.Reply {
	r := command.Nil()
	r.Str = respShapeNullArray
	return r
}

// respProto2 and respProto3 are the protocols a connection speaks,
// numbered as HELLO's protover.
const (
	respProto2 = 2
	respProto3 = 3
)

// respAppend appends r encoded in proto (respProto2 or respProto3) to dst.
// In RESP2 a null array is *-1 at the top of a reply, the one place it
// occurs (EXEC).
func respAppend(dst []byte, r *wire.Reply, proto int) []byte {
	if proto != respProto3 {
		if r.GetKind() == wire.Reply_NIL && r.GetStr() == respShapeNullArray {
			return append(dst, "*-1\r\n"...)
		}
		return command.AppendRESP(dst, r) // a map, a set and a verbatim string are RESP2 values already
	}
	switch r.GetKind() {
	case wire.Reply_NIL:
		return append(dst, "_\r\n"...)
	case wire.Reply_BULK:
		dst = respAppendBulkHeader(dst, r, proto)
		dst = append(dst, r.GetBulk()...)
		return append(dst, "\r\n"...)
	case wire.Reply_ARRAY:
		elems := r.GetArray()
		n, prefix := len(elems), byte('*')
		switch r.GetStr() {
		case respShapeMap:
			n, prefix = n/2, '%'
		case respShapeSet:
			prefix = '~'
		}
		dst = strconv.AppendInt(append(dst, prefix), int64(n), 10)
		dst = append(dst, "\r\n"...)
		for _, e := range elems {
			dst = respAppend(dst, e, proto)
		}
		return dst
	}
	return command.AppendRESP(dst, r) // status, error and integer are the same in both
}

// respAppendBulkHeader appends what comes before a BULK reply's bytes in
// proto: "$len\r\n", or for a verbatim string in RESP3 "=len\r\ntxt:"
// (len counting the four bytes of "txt:").
func respAppendBulkHeader(dst []byte, r *wire.Reply, proto int) []byte {
	n := int64(len(r.GetBulk()))
	if proto == respProto3 && r.GetStr() == respShapeVerbatim {
		dst = strconv.AppendInt(append(dst, '='), n+4, 10)
		return append(dst, "\r\ntxt:"...)
	}
	dst = strconv.AppendInt(append(dst, '$'), n, 10)
	return append(dst, "\r\n"...)
}

// respClusterShape gives the Gateway's CLUSTER INFO and CLUSTER SHARDS
// replies the shapes of Redis 7.2's clusterCommand: INFO's text is a
// verbatim string, and SHARDS is an array of maps, one per shard, whose
// "nodes" are maps too. nil for any other command.
func respClusterShape(name string, args [][]byte) func(*wire.Reply) *wire.Reply {
	if name != "cluster" || len(args) != 2 {
		return nil
	}
	switch command.Name(args[1:]) {
	case "info":
		return func(r *wire.Reply) *wire.Reply {
			if r.Kind != wire.Reply_BULK {
				return r
			}
			return &wire.Reply{Kind: wire.Reply_BULK, Bulk: r.Bulk, Str: respShapeVerbatim}
		}
	case "shards":
		return respShardsShape
	}
	return nil
}

// respShardsShape is respClusterShape's for CLUSTER SHARDS. What is not
// of the expected shape (flat key-value arrays) is left as it came.
func respShardsShape(r *wire.Reply) *wire.Reply {
	if r.Kind != wire.Reply_ARRAY {
		return r
	}
	shards := make([]*wire.Reply, len(r.Array))
	for i, shard := range r.Array {
		shards[i] = respFlatMap(shard)
		kv := shards[i].Array
		if shards[i] == shard {
			continue
		}
		for j := 0; j < len(kv); j += 2 {
			if string(kv[j].GetBulk()) != "nodes" || kv[j+1].GetKind() != wire.Reply_ARRAY {
				continue
			}
			nodes := make([]*wire.Reply, len(kv[j+1].Array))
			for k, node := range kv[j+1].Array {
				nodes[k] = respFlatMap(node)
			}
			kv[j+1] = command.Array(nodes...)
		}
	}
	return command.Array(shards...)
}

// respFlatMap is r, a flat array of key, value, ..., as a map over a copy
// of its elements (the Gateway's reply is left as it came); any other r as
// it is.
func respFlatMap(r *wire.Reply) *wire.Reply {
	if r.GetKind() != wire.Reply_ARRAY || len(r.Array)%2 != 0 {
		return r
	}
	return respMap(slices.Clone(r.Array)...)
}
