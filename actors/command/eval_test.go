package command

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// mapReader is a keyspace in a map, the simplest Reader.
type mapReader map[string]string

func (m mapReader) Get(key []byte) (Value, error) {
	v, ok := m[string(key)]
	return Value{Bytes: []byte(v), Found: ok}, nil
}

// testTS is the timestamp tests evaluate at: 2026-12-02, in TSO form.
const testTS = uint64(1_796_000_000_000) << wire.TSLogicalBits

// apply applies writes in order, as a replica would.
func (m mapReader) apply(writes []Write) {
	for _, w := range writes {
		if w.Delete {
			delete(m, string(w.Key))
		} else {
			m[string(w.Key)] = string(w.Value)
		}
	}
}

func mustParse(t testing.TB, words ...string) *Command {
	t.Helper()
	c, reply := Parse(argv(words...))
	if reply != nil {
		t.Fatalf("Parse(%q): %q", words, reply.GetStr())
	}
	return c
}

func TestEvalCases(t *testing.T) {
	start := map[string]string{"a": "1", "b": "", "c": "3"}
	bulk := func(s string) *wire.Reply { return Bulk([]byte(s)) }
	for _, tc := range []struct {
		args   []string
		reply  *wire.Reply
		writes int
		after  map[string]string // changes from start; "" value with del below
		del    []string
	}{
		{[]string{"get", "a"}, bulk("1"), 0, nil, nil},
		{[]string{"get", "b"}, bulk(""), 0, nil, nil},
		{[]string{"get", "z"}, Nil(), 0, nil, nil},
		{[]string{"set", "a", "9"}, OK(), 1, map[string]string{"a": "9"}, nil},
		{[]string{"set", "z", "9", "nx"}, OK(), 1, map[string]string{"z": "9"}, nil},
		{[]string{"set", "a", "9", "nx"}, Nil(), 0, nil, nil},
		{[]string{"set", "b", "9", "nx"}, Nil(), 0, nil, nil}, // an empty value exists
		{[]string{"set", "a", "9", "xx"}, OK(), 1, map[string]string{"a": "9"}, nil},
		{[]string{"set", "z", "9", "xx"}, Nil(), 0, nil, nil},
		{[]string{"set", "a", "9", "get"}, bulk("1"), 1, map[string]string{"a": "9"}, nil},
		{[]string{"set", "z", "9", "get"}, Nil(), 1, map[string]string{"z": "9"}, nil},
		// Redis 7: NX with GET answers the old value and writes only if absent.
		{[]string{"set", "a", "9", "nx", "get"}, bulk("1"), 0, nil, nil},
		{[]string{"set", "z", "9", "nx", "get"}, Nil(), 1, map[string]string{"z": "9"}, nil},
		{[]string{"set", "z", "9", "xx", "get"}, Nil(), 0, nil, nil},
		{[]string{"set", "a", "9", "xx", "get"}, bulk("1"), 1, map[string]string{"a": "9"}, nil},
		{[]string{"setnx", "a", "9"}, Int(0), 0, nil, nil},
		{[]string{"setnx", "z", "9"}, Int(1), 1, map[string]string{"z": "9"}, nil},
		{[]string{"setxx", "a", "9"}, Int(1), 1, map[string]string{"a": "9"}, nil},
		{[]string{"setxx", "z", "9"}, Int(0), 0, nil, nil},
		{[]string{"getset", "a", "9"}, bulk("1"), 1, map[string]string{"a": "9"}, nil},
		{[]string{"getset", "z", "9"}, Nil(), 1, map[string]string{"z": "9"}, nil},
		{[]string{"mget", "a", "z", "b", "a"}, Array(bulk("1"), Nil(), bulk(""), bulk("1")), 0, nil, nil},
		{[]string{"mset", "a", "7", "z", "8", "a", "9"}, OK(), 3, map[string]string{"a": "9", "z": "8"}, nil},
		{[]string{"exists", "a", "z", "a", "b"}, Int(3), 0, nil, nil},
		{[]string{"exists", "z"}, Int(0), 0, nil, nil},
		{[]string{"del", "a", "z", "a", "b"}, Int(2), 2, nil, []string{"a", "b"}},
		{[]string{"del", "z", "z"}, Int(0), 0, nil, nil},
	} {
		state := mapReader(maps.Clone(start))
		reply, writes, err := Eval(mustParse(t, tc.args...), state, testTS)
		if err != nil {
			t.Errorf("Eval(%q): %v", tc.args, err)
			continue
		}
		if !proto.Equal(reply, tc.reply) {
			t.Errorf("Eval(%q) reply = %v, want %v", tc.args, reply, tc.reply)
		}
		if len(writes) != tc.writes {
			t.Errorf("Eval(%q) = %d writes %+v, want %d", tc.args, len(writes), writes, tc.writes)
		}
		want := maps.Clone(start)
		maps.Copy(want, tc.after)
		for _, k := range tc.del {
			delete(want, k)
		}
		state.apply(writes)
		if !maps.Equal(map[string]string(state), want) {
			t.Errorf("Eval(%q) then apply: state %v, want %v", tc.args, state, want)
		}
	}
}

func TestEvalRefusesWholeKeyspace(t *testing.T) {
	for _, words := range [][]string{{"dbsize"}, {"flushall"}, {"FLUSHDB", "async"}} {
		reply, writes, err := Eval(mustParse(t, words...), mapReader{"a": "1"}, testTS)
		if err == nil || reply != nil || writes != nil {
			t.Errorf("Eval(%q) = %v, %v, %v; want an error only", words, reply, writes, err)
		}
	}
}

type failingReader struct{ err error }

func (f failingReader) Get([]byte) (Value, error) { return Value{}, f.err }

func TestEvalReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, words := range [][]string{
		{"get", "k"}, {"set", "k", "v", "nx"}, {"set", "k", "v", "get"}, {"setnx", "k", "v"}, {"setxx", "k", "v"},
		{"getset", "k", "v"}, {"mget", "k"}, {"exists", "k"}, {"del", "k"},
	} {
		reply, writes, err := Eval(mustParse(t, words...), failingReader{boom}, testTS)
		if !errors.Is(err, boom) || reply != nil || writes != nil {
			t.Errorf("Eval(%q) = %v, %v, %v; want the read error only", words, reply, writes, err)
			continue
		}
		if !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("Eval(%q) error %q does not name the key", words, err)
		}
	}
}

// op is one generated command, described apart from its arguments so that
// the reference below never sees Parse's output.
type op struct {
	name        string
	keys        []string
	values      []string
	nx, xx, get bool
}

func (o op) args(t *rapid.T) [][]byte {
	args := [][]byte{randomCase(t, o.name, "nameCase")}
	switch o.name {
	case "mset":
		for i := range o.keys {
			args = append(args, []byte(o.keys[i]), []byte(o.values[i]))
		}
	default:
		for _, k := range o.keys {
			args = append(args, []byte(k))
		}
		for _, v := range o.values {
			args = append(args, []byte(v))
		}
	}
	for _, opt := range []struct {
		on   bool
		word string
	}{{o.nx, "nx"}, {o.xx, "xx"}, {o.get, "get"}} {
		if opt.on {
			args = append(args, randomCase(t, opt.word, "optCase"))
		}
	}
	return args
}

// Few keys and values, so that commands collide often.
var (
	genKey   = rapid.SampledFrom([]string{"a", "b", "c", "{a}x"})
	genValue = rapid.SampledFrom([]string{"", "1", "2", "long value"})
)

func genOp(t *rapid.T) op {
	o := op{name: rapid.SampledFrom([]string{
		"get", "set", "setnx", "setxx", "getset", "mget", "mset", "exists", "del",
	}).Draw(t, "name")}
	switch o.name {
	case "get":
		o.keys = []string{genKey.Draw(t, "key")}
	case "set", "setnx", "setxx", "getset":
		o.keys = []string{genKey.Draw(t, "key")}
		o.values = []string{genValue.Draw(t, "value")}
		if o.name == "set" {
			switch rapid.IntRange(0, 2).Draw(t, "cond") {
			case 1:
				o.nx = true
			case 2:
				o.xx = true
			}
			o.get = rapid.Bool().Draw(t, "get")
		}
	case "mset":
		o.keys = rapid.SliceOfN(genKey, 1, 4).Draw(t, "keys")
		o.values = rapid.SliceOfN(genValue, len(o.keys), len(o.keys)).Draw(t, "values")
	default:
		o.keys = rapid.SliceOfN(genKey, 1, 5).Draw(t, "keys")
	}
	return o
}

// reference runs o on model the plain way, changing model in place, and
// returns the reply Redis gives and how many keys it changed.
func reference(model map[string]string, o op) (*wire.Reply, int) {
	old := func(k string) *wire.Reply {
		if v, ok := model[k]; ok {
			return Bulk([]byte(v))
		}
		return Nil()
	}
	k := ""
	if len(o.keys) > 0 {
		k = o.keys[0]
	}
	_, exists := model[k]
	switch o.name {
	case "get":
		return old(k), 0
	case "set":
		reply := old(k)
		if o.nx && exists || o.xx && !exists {
			if !o.get {
				reply = Nil()
			}
			return reply, 0
		}
		model[k] = o.values[0]
		if !o.get {
			reply = OK()
		}
		return reply, 1
	case "setnx":
		if exists {
			return Int(0), 0
		}
		model[k] = o.values[0]
		return Int(1), 1
	case "setxx":
		if !exists {
			return Int(0), 0
		}
		model[k] = o.values[0]
		return Int(1), 1
	case "getset":
		reply := old(k)
		model[k] = o.values[0]
		return reply, 1
	case "mget":
		var elems []*wire.Reply
		for _, k := range o.keys {
			elems = append(elems, old(k))
		}
		return Array(elems...), 0
	case "mset":
		for i, k := range o.keys {
			model[k] = o.values[i]
		}
		return OK(), len(o.keys)
	case "exists":
		n := 0
		for _, k := range o.keys {
			if _, ok := model[k]; ok {
				n++
			}
		}
		return Int(int64(n)), 0
	case "del":
		n := 0
		for _, k := range o.keys {
			if _, ok := model[k]; ok {
				delete(model, k)
				n++
			}
		}
		return Int(int64(n)), n
	}
	panic("reference: unknown command " + o.name)
}

// TestEvalMatchesModel runs random command sequences through Parse and
// Eval, applying the writes to a map, and checks every reply and the
// keyspace after every command against the reference.
func TestEvalMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		model := map[string]string{}
		state := mapReader{}
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for step := range steps {
			o := genOp(t)
			args := o.args(t)
			c, reply := Parse(args)
			if reply != nil {
				t.Fatalf("step %d: Parse(%q): %q", step, args, reply.GetStr())
			}
			got, writes, err := Eval(c, state, testTS)
			if err != nil {
				t.Fatalf("step %d: Eval(%q): %v", step, args, err)
			}
			want, changes := reference(model, o)
			if !proto.Equal(got, want) {
				t.Fatalf("step %d: %q replied %v, want %v", step, args, got, want)
			}
			if len(writes) != changes {
				t.Fatalf("step %d: %q gave %d writes %+v, want %d", step, args, len(writes), writes, changes)
			}
			if len(writes) > 0 && !c.IsWrite() {
				t.Fatalf("step %d: %q wrote but IsWrite is false", step, args)
			}
			state.apply(writes)
			if !maps.Equal(map[string]string(state), model) {
				t.Fatalf("step %d: after %q state is %v, want %v", step, args, state, model)
			}
		}
	})
}

// A plain SET does not depend on the key, so it reads nothing: the primary
// reads the version it replaces once, for its log entry.
func TestPlainSetReadsNothing(t *testing.T) {
	reply, writes, err := Eval(mustParse(t, "set", "k", "v"), failingReader{errors.New("read")}, testTS)
	if err != nil || reply.GetStr() != "OK" || len(writes) != 1 {
		t.Errorf("plain SET: %v, %v, %v; want OK and one write without a read", reply, writes, err)
	}
}
