package command

import (
	"fmt"
	"testing"

	"castkv/actors/wire"
)

// ttlSession is a session of the expiry commands whose replies do not
// depend on when it runs: relative times are long (a TTL of 1000 s reads
// back as 1000, rounded, for the few milliseconds the session takes) and
// absolute ones far ahead (4000000000 is in 2096) or long past. It runs on
// castkv's evaluation at testTS and, where one is installed, on a real
// redis-server (TestTTLSessionMatchesRedis).
var ttlSession = session{
	{[]string{"SET", "k", "v", "EX", "1000"}, "+OK"},
	{[]string{"TTL", "k"}, ":1000"},
	{[]string{"SET", "k", "v", "EXAT", "4000000000"}, "+OK"},
	{[]string{"EXPIRETIME", "k"}, ":4000000000"},
	{[]string{"PEXPIRETIME", "k"}, ":4000000000000"},
	{[]string{"TTL", "nokey"}, ":-2"},
	{[]string{"PTTL", "nokey"}, ":-2"},
	{[]string{"EXPIRETIME", "nokey"}, ":-2"},
	{[]string{"SET", "p", "v"}, "+OK"},
	{[]string{"TTL", "p"}, ":-1"},
	{[]string{"PTTL", "p"}, ":-1"},
	{[]string{"EXPIRETIME", "p"}, ":-1"},
	{[]string{"PERSIST", "p"}, ":0"},
	{[]string{"PERSIST", "nokey"}, ":0"},
	{[]string{"PERSIST", "k"}, ":1"},
	{[]string{"TTL", "k"}, ":-1"},
	{[]string{"PEXPIREAT", "k", "4000000000123"}, ":1"},
	{[]string{"PEXPIRETIME", "k"}, ":4000000000123"},
	{[]string{"EXPIRETIME", "k"}, ":4000000000"},
	{[]string{"EXPIREAT", "k", "4000000001", "NX"}, ":0"},
	{[]string{"EXPIREAT", "k", "4000000001", "XX"}, ":1"},
	{[]string{"EXPIREAT", "k", "3999999999", "GT"}, ":0"},
	{[]string{"EXPIREAT", "k", "4000000002", "gt"}, ":1"},
	{[]string{"EXPIREAT", "k", "4000000003", "LT"}, ":0"},
	{[]string{"EXPIREAT", "k", "4000000000", "LT", "XX"}, ":1"},
	{[]string{"EXPIRETIME", "k"}, ":4000000000"},
	{[]string{"EXPIREAT", "p", "4000000000", "GT"}, ":0"}, // no expiry: an infinite TTL
	{[]string{"EXPIREAT", "p", "4000000000", "XX"}, ":0"},
	{[]string{"EXPIREAT", "p", "4000000000", "LT"}, ":1"},
	{[]string{"EXPIRETIME", "p"}, ":4000000000"},
	{[]string{"EXPIRE", "p", "1000", "NX"}, ":0"},
	{[]string{"EXPIRE", "p", "1000"}, ":1"},
	{[]string{"TTL", "p"}, ":1000"},
	{[]string{"EXPIRE", "nokey", "10"}, ":0"},
	{[]string{"PEXPIRE", "p", "1000000"}, ":1"},
	{[]string{"TTL", "p"}, ":1000"},

	// Writes that keep the expiry, and those that drop it.
	{[]string{"SET", "c", "10", "EXAT", "4000000000"}, "+OK"},
	{[]string{"INCR", "c"}, ":11"},
	{[]string{"EXPIRETIME", "c"}, ":4000000000"},
	{[]string{"INCRBYFLOAT", "c", "0.5"}, "$11.5"},
	{[]string{"APPEND", "c", "0"}, ":5"},
	{[]string{"SETRANGE", "c", "0", "9"}, ":5"},
	{[]string{"EXPIRETIME", "c"}, ":4000000000"},
	{[]string{"SET", "c", "5", "KEEPTTL"}, "+OK"},
	{[]string{"EXPIRETIME", "c"}, ":4000000000"},
	{[]string{"GETSET", "c", "6"}, "$5"},
	{[]string{"EXPIRETIME", "c"}, ":-1"},
	{[]string{"SET", "c", "7", "EXAT", "4000000000", "GET"}, "$6"},
	{[]string{"GETEX", "c", "PERSIST"}, "$7"},
	{[]string{"EXPIRETIME", "c"}, ":-1"},
	{[]string{"GETEX", "c", "EXAT", "4000000000"}, "$7"},
	{[]string{"EXPIRETIME", "c"}, ":4000000000"},
	{[]string{"GETEX", "c"}, "$7"},
	{[]string{"EXPIRETIME", "c"}, ":4000000000"},
	{[]string{"GETEX", "c", "PX", "1000000"}, "$7"},
	{[]string{"TTL", "c"}, ":1000"},
	{[]string{"GETEX", "nokey", "EX", "10"}, "nil"},
	{[]string{"SET", "c", "8"}, "+OK"},
	{[]string{"EXPIRETIME", "c"}, ":-1"},
	{[]string{"SET", "c", "9", "NX", "EX", "10"}, "nil"},
	{[]string{"SET", "c", "9", "XX", "EXAT", "4000000000"}, "+OK"},
	{[]string{"MSET", "c", "10"}, "+OK"},
	{[]string{"EXPIRETIME", "c"}, ":-1"},

	// An expiry in the past deletes the key.
	{[]string{"SET", "d", "x", "EXAT", "1"}, "+OK"},
	{[]string{"EXISTS", "d"}, ":0"},
	{[]string{"SET", "d", "x"}, "+OK"},
	{[]string{"EXPIREAT", "d", "1"}, ":1"},
	{[]string{"EXISTS", "d"}, ":0"},
	{[]string{"SET", "d", "x"}, "+OK"},
	{[]string{"EXPIRE", "d", "-5"}, ":1"},
	{[]string{"GET", "d"}, "nil"},
	{[]string{"SET", "d", "x"}, "+OK"},
	{[]string{"GETEX", "d", "PXAT", "1"}, "$x"},
	{[]string{"EXISTS", "d"}, ":0"},
	{[]string{"SET", "d", "x", "PXAT", "1", "GET"}, "nil"},
	{[]string{"GET", "d"}, "nil"},

	{[]string{"SETEX", "s", "1000", "v"}, "+OK"},
	{[]string{"TTL", "s"}, ":1000"},
	{[]string{"PSETEX", "s", "1000000", "v"}, "+OK"},
	{[]string{"TTL", "s"}, ":1000"},

	// Errors, which change nothing.
	{[]string{"SETEX", "s", "0", "v"}, "-ERR invalid expire time in 'setex' command"},
	{[]string{"SETEX", "s", "-1", "v"}, "-ERR invalid expire time in 'setex' command"},
	{[]string{"PSETEX", "s", "abc", "v"}, "-ERR value is not an integer or out of range"},
	{[]string{"SET", "s", "v", "EX", "0"}, "-ERR invalid expire time in 'set' command"},
	{[]string{"SET", "s", "v", "PX", "9223372036854775807"}, "-ERR invalid expire time in 'set' command"},
	{[]string{"SET", "s", "v", "EX", "9223372036854775"}, "-ERR invalid expire time in 'set' command"},
	{[]string{"SET", "s", "v", "KEEPTTL", "EX", "10"}, "-ERR syntax error"},
	{[]string{"SET", "s", "v", "EX"}, "-ERR syntax error"},
	{[]string{"EXPIRE", "s", "10", "NX", "XX"}, "-ERR NX and XX, GT or LT options at the same time are not compatible"},
	{[]string{"EXPIRE", "s", "10", "GT", "LT"}, "-ERR GT and LT options at the same time are not compatible"},
	{[]string{"EXPIRE", "s", "10", "FOO"}, "-ERR Unsupported option FOO"},
	{[]string{"EXPIRE", "s", "abc"}, "-ERR value is not an integer or out of range"},
	{[]string{"EXPIRE", "s", "9223372036854775807"}, "-ERR invalid expire time in 'expire' command"},
	{[]string{"PEXPIRE", "s", "9223372036854775807"}, "-ERR invalid expire time in 'pexpire' command"},
	{[]string{"GETEX", "s", "PERSIST", "EX", "10"}, "-ERR syntax error"},
	{[]string{"GETEX", "s", "EX", "0"}, "-ERR invalid expire time in 'getex' command"},
	{[]string{"TTL", "s", "extra"}, "-ERR wrong number of arguments for 'ttl' command"},
	{[]string{"TTL", "s"}, ":1000"},

	// RENAME, RENAMENX and COPY carry the value and its expiry.
	{[]string{"SET", "r1", "a", "EXAT", "4000000000"}, "+OK"},
	{[]string{"RENAME", "r1", "r2"}, "+OK"},
	{[]string{"EXISTS", "r1"}, ":0"},
	{[]string{"GET", "r2"}, "$a"},
	{[]string{"EXPIRETIME", "r2"}, ":4000000000"},
	{[]string{"RENAME", "nokey", "x"}, "-ERR no such key"},
	{[]string{"RENAMENX", "nokey", "x"}, "-ERR no such key"},
	{[]string{"RENAME", "r2", "r2"}, "+OK"},
	{[]string{"RENAMENX", "r2", "r2"}, ":0"},
	{[]string{"SET", "r3", "b"}, "+OK"},
	{[]string{"RENAMENX", "r2", "r3"}, ":0"},
	{[]string{"RENAMENX", "r2", "r4"}, ":1"},
	{[]string{"EXISTS", "r2"}, ":0"},
	{[]string{"COPY", "r4", "r5"}, ":1"},
	{[]string{"EXPIRETIME", "r5"}, ":4000000000"},
	{[]string{"COPY", "r4", "r3"}, ":0"},
	{[]string{"COPY", "r4", "r3", "REPLACE"}, ":1"},
	{[]string{"GET", "r3"}, "$a"},
	{[]string{"COPY", "r4", "r6", "DB", "0"}, ":1"},
	{[]string{"COPY", "r4", "r4"}, "-ERR source and destination objects are the same"},
	{[]string{"COPY", "nokey", "r9"}, ":0"},
	{[]string{"COPY", "r4", "r7", "BOGUS"}, "-ERR syntax error"},
	{[]string{"COPY", "r4", "r7", "DB", "x"}, "-ERR value is not an integer or out of range"},
	{[]string{"RENAME", "r4"}, "-ERR wrong number of arguments for 'rename' command"},
	{[]string{"SET", "r8", "c"}, "+OK"},
	{[]string{"RENAME", "r8", "r3"}, "+OK"},
	{[]string{"EXPIRETIME", "r3"}, ":-1"},
}

// ttlReader is a keyspace with expiry, the state Eval's writes make.
type ttlReader map[string]Value

func (m ttlReader) Get(key []byte) (Value, error) { return m[string(key)], nil }

func (m ttlReader) apply(writes []Write) {
	for _, w := range writes {
		if w.Delete {
			delete(m, string(w.Key))
		} else {
			m[string(w.Key)] = Value{Bytes: w.Value, ExpireMs: w.ExpireMs, Found: true}
		}
	}
}

// run parses args, sends the command across the wire as the API server
// does, evaluates it at ts and applies its writes.
func (m ttlReader) run(t *testing.T, ts uint64, args ...string) string {
	t.Helper()
	c, reply := Parse(argv(args...))
	if reply == nil {
		if c, reply = FromWire(ToWire(c)); reply != nil {
			t.Fatalf("%q: FromWire: %s", args, reply.Str)
		}
		var writes []Write
		var err error
		if reply, writes, err = Eval(c, m, ts); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		m.apply(writes)
	}
	return renderReply(reply)
}

func TestTTLSession(t *testing.T) {
	m := ttlReader{}
	for _, step := range ttlSession {
		if got := m.run(t, testTS, step.cmd...); got != step.reply {
			t.Errorf("%q: %q, want %q", step.cmd, got, step.reply)
		}
	}
}

func TestTTLSessionMatchesRedis(t *testing.T) { matchRedis(t, ttlSession) }

// TestExpiryFollowsTimestamps moves the evaluation's timestamp, which
// Redis's session cannot: a key is live up to the millisecond before its
// expiry and gone from that millisecond on, for every command, whatever
// the timestamp's logical part.
func TestExpiryFollowsTimestamps(t *testing.T) {
	ms := func(n int64) uint64 { return testTS + uint64(n)<<wire.TSLogicalBits }
	m := ttlReader{}
	if got := m.run(t, ms(0), "SET", "k", "v", "PX", "1500"); got != "+OK" {
		t.Fatal(got)
	}
	for _, step := range []struct {
		at    uint64
		cmd   []string
		reply string
	}{
		{ms(0) + 5, []string{"PTTL", "k"}, ":1500"},
		{ms(1), []string{"TTL", "k"}, ":1"}, // 1499 ms rounds to 1 s
		{ms(999), []string{"TTL", "k"}, ":1"},
		{ms(1000), []string{"TTL", "k"}, ":1"}, // 500 ms rounds up
		{ms(1001), []string{"TTL", "k"}, ":0"},
		{ms(1499), []string{"GET", "k"}, "$v"},
		{ms(1500) - 1, []string{"EXISTS", "k"}, ":1"},
		{ms(1500), []string{"GET", "k"}, "nil"},
		{ms(1500), []string{"EXISTS", "k"}, ":0"},
		{ms(1500), []string{"TTL", "k"}, ":-2"},
		{ms(1500), []string{"SETNX", "k", "w"}, ":1"}, // an expired key is absent to writes too
		{ms(1500), []string{"TTL", "k"}, ":-1"},
		{ms(2000), []string{"GET", "k"}, "$w"},
		{ms(2000), []string{"SET", "n", "1", "EX", "1"}, "+OK"},
		{ms(2500), []string{"INCR", "n"}, ":2"},
		{ms(3000), []string{"INCR", "n"}, ":1"}, // expired: INCR starts from 0, with no expiry
		{ms(3000), []string{"TTL", "n"}, ":-1"},
		{ms(3000), []string{"SET", "n", "1", "PX", "100"}, "+OK"},
		{ms(3050), []string{"PERSIST", "n"}, ":1"},
		{ms(9000), []string{"GET", "n"}, "$1"},
		{ms(9000), []string{"EXPIRE", "n", "0"}, ":1"}, // at once: deleted
		{ms(9000), []string{"EXISTS", "n"}, ":0"},
		{ms(9000), []string{"SET", "a", "1", "PX", "10"}, "+OK"},
		{ms(9010), []string{"EXPIRE", "a", "100"}, ":0"}, // expired: nothing to set
		{ms(9010), []string{"GETEX", "a", "PERSIST"}, "nil"},
		{ms(9010), []string{"SET", "a", "2", "KEEPTTL"}, "+OK"}, // no live TTL to keep
		{ms(99000), []string{"GET", "a"}, "$2"},
	} {
		if got := m.run(t, step.at, step.cmd...); got != step.reply {
			t.Errorf("at +%d ms %q: %q, want %q", (step.at-testTS)>>wire.TSLogicalBits, step.cmd, got, step.reply)
		}
	}
}

// TestMultiBlockKeepsExpiry: a MULTI block's commands see each other's
// expiries, and its one write per key carries the last.
func TestMultiBlockKeepsExpiry(t *testing.T) {
	m := ttlReader{}
	got := m.run(t, testTS, "EXEC", "5", "SET", "k", "1", "EX", "100", "2", "INCR", "k", "2", "TTL", "k", "3", "EXPIRE", "k", "200", "2", "TTL", "k")
	if want := "[+OK :2 :100 :1 :200]"; got != want {
		t.Errorf("block replies %s, want %s", got, want)
	}
	if v := m["k"]; string(v.Bytes) != "2" || v.ExpireMs != wire.TSMillis(testTS)+200_000 {
		t.Errorf("k after the block: %q expiring at %d, want \"2\" at %d", v.Bytes, v.ExpireMs, wire.TSMillis(testTS)+200_000)
	}
}

// TestMultiBlockWithWatch: a block carrying what WATCH saw runs only if
// every watched key has that version still (an expired one has none), and
// survives the trip to a data server.
func TestMultiBlockWithWatch(t *testing.T) {
	m := ttlReader{
		"a": {Bytes: []byte("1"), TS: 7, Found: true},
		"e": {Bytes: []byte("x"), TS: 9, ExpireMs: wire.TSMillis(testTS), Found: true}, // expired at testTS
	}
	for _, tc := range []struct {
		watch *wire.Watch
		want  string
	}{
		{&wire.Watch{Ts: 1, Keys: [][]byte{[]byte("a"), []byte("b")}, Versions: []uint64{7, 0}}, "[:2]"},
		{&wire.Watch{Ts: 1, Keys: [][]byte{[]byte("a")}, Versions: []uint64{6}}, "nil"}, // rewritten since
		{&wire.Watch{Ts: 1, Keys: [][]byte{[]byte("b")}, Versions: []uint64{3}}, "nil"}, // deleted since
		{&wire.Watch{Ts: 1, Keys: [][]byte{[]byte("e")}, Versions: []uint64{9}}, "nil"}, // expired since
		{&wire.Watch{Ts: 1, Keys: [][]byte{[]byte("e")}, Versions: []uint64{0}}, "[:2]"},
	} {
		c, reply := Parse(ExecArgs([][][]byte{argv("INCR", "a")}, tc.watch))
		if reply != nil {
			t.Fatalf("parse: %v", reply)
		}
		if got := fmt.Sprint(len(c.Keys)); got != fmt.Sprint(1+len(tc.watch.Keys)) {
			t.Errorf("the block's keys %q do not include the watched ones", c.Keys)
		}
		if c, reply = FromWire(ToWire(c)); reply != nil {
			t.Fatalf("FromWire: %v", reply)
		}
		got, writes, err := Eval(c, m, testTS)
		if err != nil {
			t.Fatal(err)
		}
		if renderReply(got) != tc.want || (tc.want == "nil") != (len(writes) == 0) {
			t.Errorf("watching %q at versions %v: %s with %d writes, want %s", tc.watch.Keys, tc.watch.Versions, renderReply(got), len(writes), tc.want)
		}
	}
	// WATCH itself: the read's timestamp, then each key's version.
	c, _ := Parse(argv("WATCH", "a", "b", "e"))
	got, _, _ := Eval(c, m, testTS)
	if want := fmt.Sprintf("[:%d :7 :0 :0]", testTS); renderReply(got) != want {
		t.Errorf("WATCH a b e: %s, want %s", renderReply(got), want)
	}
}

// TestCopyOtherDatabase: castkv has database 0 only, as SELECT says.
func TestCopyOtherDatabase(t *testing.T) {
	if _, reply := Parse(argv("COPY", "a", "b", "DB", "1")); reply == nil || reply.Str != "ERR DB index is out of range" {
		t.Errorf("COPY a b DB 1: %v", reply)
	}
}
