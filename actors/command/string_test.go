package command

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"castkv/actors/wire"
	"castkv/net/redistest"
)

// stringSession is a redis-cli session of the string commands, each line a
// command and the reply Redis 7 gives, run in order on an empty database.
// Replies are written +status, :int, $bulk, nil or -error. The same table
// runs against a real redis-server when one is installed
// (TestStringSessionMatchesRedis), which is how its replies were checked.
var stringSession = session{
	{[]string{"SET", "n", "10"}, "+OK"},
	{[]string{"INCR", "n"}, ":11"},
	{[]string{"DECR", "n"}, ":10"},
	{[]string{"INCRBY", "n", "5"}, ":15"},
	{[]string{"DECRBY", "n", "20"}, ":-5"},
	{[]string{"GET", "n"}, "$-5"},
	{[]string{"INCR", "fresh"}, ":1"},
	{[]string{"DECR", "fresh2"}, ":-1"},
	{[]string{"INCRBY", "n", "abc"}, "-ERR value is not an integer or out of range"},
	{[]string{"INCRBY", "n", "+1"}, "-ERR value is not an integer or out of range"},
	{[]string{"INCRBY", "n", "99999999999999999999"}, "-ERR value is not an integer or out of range"},
	{[]string{"SET", "s", "hello"}, "+OK"},
	{[]string{"INCR", "s"}, "-ERR value is not an integer or out of range"},
	{[]string{"SET", "lead", "007"}, "+OK"},
	{[]string{"INCR", "lead"}, "-ERR value is not an integer or out of range"},
	{[]string{"SET", "space", " 1"}, "+OK"},
	{[]string{"INCR", "space"}, "-ERR value is not an integer or out of range"},
	{[]string{"SET", "max", "9223372036854775807"}, "+OK"},
	{[]string{"INCR", "max"}, "-ERR increment or decrement would overflow"},
	{[]string{"GET", "max"}, "$9223372036854775807"},
	{[]string{"SET", "min", "-9223372036854775808"}, "+OK"},
	{[]string{"DECR", "min"}, "-ERR increment or decrement would overflow"},
	{[]string{"DECRBY", "n", "-9223372036854775808"}, "-ERR decrement would overflow"},
	{[]string{"INCRBY", "min", "9223372036854775807"}, ":-1"},
	{[]string{"INCRBYFLOAT", "f", "10.5"}, "$10.5"},
	{[]string{"INCRBYFLOAT", "f", "0.1"}, "$10.6"},
	{[]string{"SET", "one", "1"}, "+OK"},
	{[]string{"INCRBYFLOAT", "one", "-1.1"}, "$-0.1"},
	{[]string{"SET", "sci", "5.0e3"}, "+OK"},
	{[]string{"INCRBYFLOAT", "sci", "2.0e2"}, "$5200"},
	{[]string{"SET", "big", "17179869184"}, "+OK"},
	{[]string{"INCRBYFLOAT", "big", "1.5"}, "$17179869185.5"},
	{[]string{"INCRBYFLOAT", "zero", "0"}, "$0"},
	{[]string{"INCRBYFLOAT", "f", "abc"}, "-ERR value is not a valid float"},
	{[]string{"INCRBYFLOAT", "f", ""}, "-ERR value is not a valid float"},
	{[]string{"INCRBYFLOAT", "f", "1_0"}, "-ERR value is not a valid float"},
	{[]string{"INCRBYFLOAT", "s", "1"}, "-ERR value is not a valid float"},
	{[]string{"INCRBYFLOAT", "f", "+inf"}, "-ERR increment would produce NaN or Infinity"},
	{[]string{"INCRBYFLOAT", "f", "nan"}, "-ERR value is not a valid float"},
	{[]string{"INCRBYFLOAT", "f", "1e5000"}, "-ERR value is not a valid float"},
	{[]string{"GET", "f"}, "$10.6"},
	{[]string{"APPEND", "a", "hello"}, ":5"},
	{[]string{"APPEND", "a", " world"}, ":11"},
	{[]string{"GET", "a"}, "$hello world"},
	{[]string{"APPEND", "n", "0"}, ":3"},
	{[]string{"INCR", "n"}, ":-49"},
	{[]string{"STRLEN", "a"}, ":11"},
	{[]string{"STRLEN", "nokey"}, ":0"},
	{[]string{"GETRANGE", "a", "0", "4"}, "$hello"},
	{[]string{"GETRANGE", "a", "-5", "-1"}, "$world"},
	{[]string{"GETRANGE", "a", "5", "3"}, "$"},
	{[]string{"GETRANGE", "a", "-1", "-5"}, "$"},
	{[]string{"GETRANGE", "a", "0", "-100"}, "$h"},
	{[]string{"GETRANGE", "a", "-100", "2"}, "$hel"},
	{[]string{"GETRANGE", "a", "3", "100"}, "$lo world"},
	{[]string{"GETRANGE", "nokey", "0", "-1"}, "$"},
	{[]string{"GETRANGE", "a", "x", "1"}, "-ERR value is not an integer or out of range"},
	{[]string{"SUBSTR", "a", "0", "1"}, "$he"},
	{[]string{"SETRANGE", "r", "3", "xy"}, ":5"},
	{[]string{"GET", "r"}, "$\x00\x00\x00xy"},
	{[]string{"SETRANGE", "a", "0", "J"}, ":11"},
	{[]string{"SETRANGE", "a", "9", "LD!"}, ":12"},
	{[]string{"GET", "a"}, "$Jello worLD!"},
	{[]string{"SETRANGE", "nokey", "0", ""}, ":0"},
	{[]string{"EXISTS", "nokey"}, ":0"},
	{[]string{"SETRANGE", "a", "100", ""}, ":12"},
	{[]string{"SETRANGE", "a", "-1", "x"}, "-ERR offset is out of range"},
	{[]string{"SETRANGE", "a", "536870912", "x"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
	{[]string{"GETDEL", "a"}, "$Jello worLD!"},
	{[]string{"GETDEL", "a"}, "nil"},
	{[]string{"EXISTS", "a"}, ":0"},
	{[]string{"MSETNX", "m1", "a", "m2", "b"}, ":1"},
	{[]string{"MSETNX", "m2", "c", "m3", "d"}, ":0"},
	{[]string{"GET", "m2"}, "$b"},
	{[]string{"EXISTS", "m3"}, ":0"},
	{[]string{"MSETNX", "m4", "a", "m4", "b"}, ":1"},
	{[]string{"GET", "m4"}, "$b"},
	{[]string{"MSETNX", "m5"}, "-ERR wrong number of arguments for 'msetnx' command"},
	{[]string{"MSETNX", "m5", "a", "m6"}, "-ERR wrong number of arguments for 'msetnx' command"},
	{[]string{"TYPE", "s"}, "+string"},
	{[]string{"TYPE", "nokey"}, "+none"},
	{[]string{"UNLINK", "s", "n", "nokey"}, ":2"},
	{[]string{"INCR"}, "-ERR wrong number of arguments for 'incr' command"},
	{[]string{"INCRBY", "n"}, "-ERR wrong number of arguments for 'incrby' command"},
	{[]string{"SETRANGE", "a", "1"}, "-ERR wrong number of arguments for 'setrange' command"},
}

// renderReply writes a reply as the session table does.
func renderReply(r *wire.Reply) string {
	switch r.Kind {
	case wire.Reply_STATUS:
		return "+" + r.Str
	case wire.Reply_ERROR:
		return "-" + r.Str
	case wire.Reply_INT:
		return ":" + strconv.FormatInt(r.Int, 10)
	case wire.Reply_BULK:
		return "$" + string(r.Bulk)
	case wire.Reply_NIL:
		return "nil"
	case wire.Reply_ARRAY:
		parts := make([]string, len(r.Array))
		for i, e := range r.Array {
			parts[i] = renderReply(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("unexpected %v", r)
}

func TestStringSession(t *testing.T) {
	m := mapReader{}
	for _, step := range stringSession {
		c, reply := Parse(argv(step.cmd...))
		if reply == nil {
			// Every command crosses to a data server on the wire.
			if c, reply = FromWire(ToWire(c)); reply != nil {
				t.Fatalf("%q: FromWire: %s", step.cmd, reply.Str)
			}
			var writes []Write
			var err error
			if reply, writes, err = Eval(c, m, testTS); err != nil {
				t.Fatalf("%q: %v", step.cmd, err)
			}
			m.apply(writes)
		}
		if got := renderReply(reply); got != step.reply {
			t.Errorf("%q: %q, want %q", step.cmd, got, step.reply)
		}
	}
}

// TestStringSessionMatchesRedis runs the session against a real
// redis-server, to check the table itself. It skips, saying so, where none
// is installed (Debian: apt-get install redis-server).
func TestStringSessionMatchesRedis(t *testing.T) { matchRedis(t, stringSession) }

// session is a redis-cli session: each step a command and the reply Redis
// 7 gives, written +status, :int, $bulk, nil or -error.
type session = []struct {
	cmd   []string
	reply string
}

// matchRedis runs a session against a real redis-server, to check the
// table itself. It skips, saying so, where none is installed (Debian:
// apt-get install redis-server).
func matchRedis(t *testing.T, steps session) {
	addr, ok := redistest.Start(t)
	if !ok {
		t.Skip("redis-server is not installed (apt-get install redis-server); the session table is checked against it where it is")
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	for _, step := range steps {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(step.cmd))
		for _, a := range step.cmd {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		got, err := readRawReply(rd)
		if err != nil {
			t.Fatalf("%q: %v", step.cmd, err)
		}
		if got != step.reply {
			t.Errorf("redis-server: %q: %q, the table says %q", step.cmd, got, step.reply)
		}
	}
}

// readRawReply reads one reply of the kinds the session uses.
func readRawReply(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "nil", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return "$" + string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// A MULTI block as the RESP port sends it: parsed into a Multi, carried on
// the wire, and evaluated in order, each command seeing the writes before
// it, a failing command's error in its place.
func TestMultiBlock(t *testing.T) {
	block := [][][]byte{argv("SET", "a", "x"), argv("APPEND", "a", "y"), argv("INCR", "a"), argv("INCR", "n"),
		argv("GET", "a"), argv("DEL", "a"), argv("EXISTS", "a", "n"), argv("MSET", "b", "1", "b", "2"), argv("GETSET", "b", "3")}
	c, reply := Parse(ExecArgs(block, nil))
	if reply != nil {
		t.Fatalf("Parse: %s", reply.Str)
	}
	if c, reply = FromWire(ToWire(c)); reply != nil {
		t.Fatalf("FromWire: %s", reply.Str)
	}
	if c.Kind != Multi || len(c.Sub) != len(block) || !c.IsWrite() {
		t.Fatalf("parsed %v with %d commands, write %t", c.Kind, len(c.Sub), c.IsWrite())
	}
	m := mapReader{"n": "41"}
	reply, writes, err := Eval(c, m, testTS)
	if err != nil {
		t.Fatal(err)
	}
	m.apply(writes)
	var got []string
	for _, r := range reply.Array {
		got = append(got, renderReply(r))
	}
	want := []string{"+OK", ":2", "-ERR value is not an integer or out of range", ":42", "$xy", ":1", ":1", "+OK", "$2"}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("replies %q\nwant %q", got, want)
	}
	if len(m) != 2 || m["n"] != "42" || m["b"] != "3" {
		t.Errorf("state after the block %v, want n=42 b=3", m)
	}
	reads, _ := Parse(ExecArgs([][][]byte{argv("GET", "n"), argv("STRLEN", "b")}, nil))
	if reads == nil || reads.IsWrite() {
		t.Error("a block of reads is a write")
	}
}

func TestMultiMalformed(t *testing.T) {
	for _, args := range [][][]byte{
		argv("EXEC", "2", "GET"),                 // a count past the end
		argv("EXEC", "x", "GET", "k"),            // no count
		argv("EXEC", "1", "DBSIZE"),              // over every key
		argv("EXEC", "2", "GET"),                 // arity through the count
		argv("EXEC", "3", "EXEC", "1", "GET"),    // nested
		argv("EXEC", "2", "NOSUCH", "k"),         // unknown
		argv("EXEC", "4", "SET", "k", "v", "XY"), // syntax
	} {
		if c, reply := Parse(args); reply == nil {
			t.Errorf("Parse(%q) = %v, want an error", args, c.Kind)
		}
	}
	c, _ := Parse(ExecArgs([][][]byte{argv("GET", "k")}, nil))
	w := ToWire(c)
	w.Keys = [][]byte{[]byte("other")}
	if _, reply := FromWire(w); reply == nil {
		t.Error("a Multi whose keys are not its commands' was accepted")
	}
	w = ToWire(c)
	w.Sub = append(w.Sub, ToWire(c))
	w.Keys = append(w.Keys, []byte("k"))
	if _, reply := FromWire(w); reply == nil {
		t.Error("a nested Multi was accepted")
	}
}

// A block's entry holds one write per key, its last; and the values its
// commands make along the way are bounded, so a short block cannot make
// gigabytes (1,024 SETRANGEs at a 60 MiB offset).
func TestMultiBlockBounds(t *testing.T) {
	c, _ := Parse(ExecArgs([][][]byte{argv("SET", "k", "a"), argv("APPEND", "k", "b"), argv("APPEND", "k", "c"), argv("DEL", "j"), argv("SET", "j", "x")}, nil))
	reply, writes, err := Eval(c, mapReader{"j": "old"}, testTS)
	if err != nil || reply.Kind != wire.Reply_ARRAY {
		t.Fatalf("Eval: %v %v", reply, err)
	}
	if len(writes) != 2 || string(writes[0].Key) != "k" || string(writes[0].Value) != "abc" || string(writes[1].Key) != "j" || string(writes[1].Value) != "x" || writes[1].Delete {
		t.Errorf("writes %+v, want k=abc and j=x, one each", writes)
	}
	var block [][][]byte
	for range 1024 {
		block = append(block, argv("SETRANGE", "k", "62914560", "x"))
	}
	c, _ = Parse(ExecArgs(block, nil))
	reply, writes, err = Eval(c, mapReader{}, testTS)
	if err != nil || reply.Kind != wire.Reply_ERROR || len(writes) != 0 || !strings.Contains(reply.Str, "nothing of it was applied") {
		t.Errorf("a block making 64 GB: %v, %d writes, %v", reply, len(writes), err)
	}
}
