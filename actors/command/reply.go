package command

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"castkv/actors/wire"
)

// OK is the status reply +OK.
func OK() *wire.Reply { return Status("OK") }

// Aborted is the result an aborted write records (wire.Commit.abort): the
// op never ran and never will.
func Aborted() *wire.Reply {
	return Error("TRYAGAIN the write was not applied: it was aborted after its request timed out; retry it")
}

// IsAborted reports whether r is Aborted's result.
func IsAborted(r *wire.Reply) bool {
	a := Aborted()
	return r != nil && r.Kind == a.Kind && r.Str == a.Str
}

// Nil is the nil bulk reply ($-1 in RESP2).
func Nil() *wire.Reply { return &wire.Reply{Kind: wire.Reply_NIL} }

// Int is an integer reply.
func Int(n int64) *wire.Reply { return &wire.Reply{Kind: wire.Reply_INT, Int: n} }

// Bulk is a bulk string reply; a nil or empty b is the empty string, not
// Nil.
func Bulk(b []byte) *wire.Reply { return &wire.Reply{Kind: wire.Reply_BULK, Bulk: b} }

// Status is a status reply (+s). See replyString for what is done to s.
func Status(s string) *wire.Reply {
	return &wire.Reply{Kind: wire.Reply_STATUS, Str: replyString(s)}
}

// Error is an error reply (-s). s starts with its code, as in
// "ERR syntax error" or "TRYAGAIN ...", and not with '-'. See replyString
// for what is done to s.
func Error(s string) *wire.Reply {
	return &wire.Reply{Kind: wire.Reply_ERROR, Str: replyString(s)}
}

// Array is an array reply of the given elements.
func Array(elems ...*wire.Reply) *wire.Reply {
	return &wire.Reply{Kind: wire.Reply_ARRAY, Array: elems}
}

// replyString makes s safe to carry and to send: CR and LF become spaces,
// as Redis does to error texts that echo client input, so they cannot end
// the RESP line early; and each byte that is not part of valid UTF-8
// becomes '?', because Reply.str is a protobuf string, which does not
// marshal otherwise.
func replyString(s string) string {
	if utf8.ValidString(s) && !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte('?')
		case r == '\r' || r == '\n':
			b.WriteByte(' ')
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// AppendRESP appends r encoded as RESP2 to dst. A nil r, like a NIL reply,
// is $-1. A status or error string has CR and LF replaced by spaces even
// if r was built without Status or Error, so the output always frames. A
// reply kind this package does not know is encoded as an error reply
// saying so, rather than as something a client would misread.
func AppendRESP(dst []byte, r *wire.Reply) []byte {
	switch r.GetKind() {
	case wire.Reply_NIL:
		return append(dst, "$-1\r\n"...)
	case wire.Reply_STATUS:
		return appendLine(append(dst, '+'), r.GetStr())
	case wire.Reply_ERROR:
		return appendLine(append(dst, '-'), r.GetStr())
	case wire.Reply_INT:
		dst = strconv.AppendInt(append(dst, ':'), r.GetInt(), 10)
		return append(dst, "\r\n"...)
	case wire.Reply_BULK:
		bulk := r.GetBulk()
		dst = strconv.AppendInt(append(dst, '$'), int64(len(bulk)), 10)
		dst = append(dst, "\r\n"...)
		dst = append(dst, bulk...)
		return append(dst, "\r\n"...)
	case wire.Reply_ARRAY:
		elems := r.GetArray()
		dst = strconv.AppendInt(append(dst, '*'), int64(len(elems)), 10)
		dst = append(dst, "\r\n"...)
		for _, e := range elems {
			dst = AppendRESP(dst, e)
		}
		return dst
	}
	return appendLine(append(dst, '-'), "ERR castkv: unknown reply kind "+strconv.Itoa(int(r.GetKind())))
}

// appendLine appends s with CR and LF replaced by spaces, then CRLF.
func appendLine(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, "\r\n"...)
}

// Fate is a transaction's fate as a Txn command's result reports it
// (TxnCheck, and TxnCommit of a primary key).
type Fate int

const (
	FateNone       Fate = iota // not a fate: an error, or some other reply
	FateCommitted              // committed, at the reply's timestamp
	FateRolledBack             // rolled back: it never takes effect
	FateAlive                  // still deciding: its lock has not expired
)

var fateNames = [...]string{FateCommitted: "COMMITTED", FateRolledBack: "ROLLEDBACK", FateAlive: "ALIVE"}

// FateReply is the result that reports fate f (commitTS for FateCommitted).
func FateReply(f Fate, commitTS uint64) *wire.Reply {
	return &wire.Reply{Kind: wire.Reply_STATUS, Str: fateNames[f], Int: int64(commitTS)}
}

// FateOf reads a FateReply: the fate and, when committed, the commit
// timestamp.
func FateOf(r *wire.Reply) (Fate, uint64) {
	if r.GetKind() != wire.Reply_STATUS {
		return FateNone, 0
	}
	for f, name := range fateNames {
		if name != "" && r.Str == name {
			return Fate(f), uint64(r.Int)
		}
	}
	return FateNone, 0
}
