package command

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

func argv(words ...string) [][]byte {
	args := make([][]byte, len(words))
	for i, w := range words {
		args[i] = []byte(w)
	}
	return args
}

func TestParseErrorTexts(t *testing.T) {
	long := strings.Repeat("x", 200)
	sixty := strings.Repeat("y", 60)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "ERR empty command"},
		{[]string{}, "ERR empty command"},

		// Unknown commands: Redis 7's text, trailing space included.
		{[]string{"foo", "a", "b"}, "ERR unknown command 'foo', with args beginning with: 'a' 'b' "},
		{[]string{"foo"}, "ERR unknown command 'foo', with args beginning with: "},
		{[]string{"FoO", "A"}, "ERR unknown command 'FoO', with args beginning with: 'A' "},
		{[]string{"ping"}, "ERR unknown command 'ping', with args beginning with: "},
		{[]string{"foo", ""}, "ERR unknown command 'foo', with args beginning with: '' "},
		{[]string{long}, "ERR unknown command '" + long[:128] + "', with args beginning with: "},
		{[]string{"foo", long, "z"}, "ERR unknown command 'foo', with args beginning with: '" + long[:128] + "' "},
		// 63 + 63 bytes quoted, then 2 bytes of budget left for the third.
		{[]string{"foo", sixty, sixty, sixty, "z"},
			"ERR unknown command 'foo', with args beginning with: '" + sixty + "' '" + sixty + "' 'yy' "},
		// A first argument quoted to exactly 128 bytes uses up the budget.
		{[]string{"foo", long[:125], "z"}, "ERR unknown command 'foo', with args beginning with: '" + long[:125] + "' "},
		{[]string{"foo", "a\r\nb"}, "ERR unknown command 'foo', with args beginning with: 'a  b' "},
		{[]string{"fo\no", "a"}, "ERR unknown command 'fo o', with args beginning with: 'a' "},
		{[]string{"foo", "a\x00b", "c"}, "ERR unknown command 'foo', with args beginning with: 'a' 'c' "},
		{[]string{"foo", "\xff"}, "ERR unknown command 'foo', with args beginning with: '?' "},

		// Arity: the lowercase table name, whatever the client typed.
		{[]string{"get"}, "ERR wrong number of arguments for 'get' command"},
		{[]string{"GET", "a", "b"}, "ERR wrong number of arguments for 'get' command"},
		{[]string{"Set", "k"}, "ERR wrong number of arguments for 'set' command"},
		{[]string{"setnx", "k"}, "ERR wrong number of arguments for 'setnx' command"},
		{[]string{"setnx", "k", "v", "NX"}, "ERR wrong number of arguments for 'setnx' command"},
		{[]string{"SETXX", "k", "v", "v"}, "ERR wrong number of arguments for 'setxx' command"},
		{[]string{"getset", "k"}, "ERR wrong number of arguments for 'getset' command"},
		{[]string{"mget"}, "ERR wrong number of arguments for 'mget' command"},
		{[]string{"mset", "k"}, "ERR wrong number of arguments for 'mset' command"},
		{[]string{"MSET", "k", "v", "k2"}, "ERR wrong number of arguments for 'mset' command"},
		{[]string{"exists"}, "ERR wrong number of arguments for 'exists' command"},
		{[]string{"del"}, "ERR wrong number of arguments for 'del' command"},
		{[]string{"DBSIZE", "x"}, "ERR wrong number of arguments for 'dbsize' command"},

		// FLUSHALL/FLUSHDB take one optional SYNC or ASYNC.
		{[]string{"flushall", "now"}, "ERR syntax error"},
		{[]string{"FLUSHDB", "async", "sync"}, "ERR syntax error"},
		{[]string{"flushdb", "sync", "x"}, "ERR syntax error"},

		// SET options, as Redis 7 parses them.
		{[]string{"set", "k", "v", "nx", "xx"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "XX", "NX"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "XX", "GET", "nx"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "bogus"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "nxx"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "EX"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "NX", "px"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "EX", "10", "PX", "10"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "KEEPTTL", "EX", "10"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "PXAT", "10", "KEEPTTL"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "EX", "10", "bogus"}, "ERR syntax error"},
		{[]string{"set", "k", "v", "ex", "0"}, "ERR invalid expire time in 'set' command"},
		{[]string{"set", "k", "v", "PX", "-5"}, "ERR invalid expire time in 'set' command"},
		{[]string{"set", "k", "v", "EX", "9223372036854776"}, "ERR invalid expire time in 'set' command"},
		{[]string{"set", "k", "v", "exat", "1.5"}, "ERR value is not an integer or out of range"},
		{[]string{"set", "k", "v", "EX", "nx"}, "ERR value is not an integer or out of range"}, // "nx" is EX's argument here
		{[]string{"setex", "k", "0", "v"}, "ERR invalid expire time in 'setex' command"},
		{[]string{"psetex", "k", "x", "v"}, "ERR value is not an integer or out of range"},
		{[]string{"getex", "k", "KEEPTTL"}, "ERR syntax error"},
		{[]string{"getex", "k", "EX", "10", "PERSIST"}, "ERR syntax error"},
		{[]string{"getex", "k", "PX", "0"}, "ERR invalid expire time in 'getex' command"},
		{[]string{"expire", "k", "10", "NX", "XX"}, "ERR NX and XX, GT or LT options at the same time are not compatible"},
		{[]string{"expire", "k", "10", "GT", "LT"}, "ERR GT and LT options at the same time are not compatible"},
		{[]string{"expire", "k", "10", "bogus"}, "ERR Unsupported option bogus"},
		{[]string{"expire", "k", "ten"}, "ERR value is not an integer or out of range"},
		{[]string{"expire", "k", "9223372036854776"}, "ERR invalid expire time in 'expire' command"},
		{[]string{"set", "k", "v", "GET", "PERSIST"}, "ERR syntax error"},
	} {
		args := argv(tc.args...)
		c, reply := Parse(args)
		if c != nil || reply == nil {
			t.Errorf("Parse(%q) = %+v, %v; want error %q", tc.args, c, reply, tc.want)
			continue
		}
		if reply.GetKind() != wire.Reply_ERROR || reply.GetStr() != tc.want {
			t.Errorf("Parse(%q) reply = %v %q\nwant error %q", tc.args, reply.GetKind(), reply.GetStr(), tc.want)
		}
	}
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want      Command // Args is filled in from args
		positions []int
		write     bool
		allKeys   bool
	}{
		{[]string{"GET", "k"}, Command{Kind: Get, Name: "get", Keys: argv("k")}, nil, false, false},
		{[]string{"set", "k", "v"}, Command{Kind: Set, Name: "set", Keys: argv("k"), Values: argv("v")}, []int{2}, true, false},
		{[]string{"SeT", "k", "v", "nx", "Get", "NX"},
			Command{Kind: Set, Name: "set", Keys: argv("k"), Values: argv("v"), NX: true, Get: true}, []int{2}, true, false},
		{[]string{"set", "k", "v", "xX", "get", "get"},
			Command{Kind: Set, Name: "set", Keys: argv("k"), Values: argv("v"), XX: true, Get: true}, []int{2}, true, false},
		{[]string{"set", "nx", "xx", "xx"},
			Command{Kind: Set, Name: "set", Keys: argv("nx"), Values: argv("xx"), XX: true}, []int{2}, true, false},
		{[]string{"SETNX", "k", "v"}, Command{Kind: SetNX, Name: "setnx", Keys: argv("k"), Values: argv("v")}, []int{2}, true, false},
		{[]string{"setxx", "k", "v"}, Command{Kind: SetXX, Name: "setxx", Keys: argv("k"), Values: argv("v")}, []int{2}, true, false},
		{[]string{"getset", "k", "v"}, Command{Kind: GetSet, Name: "getset", Keys: argv("k"), Values: argv("v")}, []int{2}, true, false},
		{[]string{"mget", "a", "b", "a"}, Command{Kind: MGet, Name: "mget", Keys: argv("a", "b", "a")}, nil, false, false},
		{[]string{"MSET", "a", "1", "b", "2", "a", "3"},
			Command{Kind: MSet, Name: "mset", Keys: argv("a", "b", "a"), Values: argv("1", "2", "3")}, []int{2, 4, 6}, true, false},
		{[]string{"exists", "a", "a"}, Command{Kind: Exists, Name: "exists", Keys: argv("a", "a")}, nil, false, false},
		{[]string{"DEL", "a"}, Command{Kind: Del, Name: "del", Keys: argv("a")}, nil, true, false},
		{[]string{"dbsize"}, Command{Kind: DBSize, Name: "dbsize"}, nil, false, true},
		{[]string{"FLUSHALL"}, Command{Kind: FlushAll, Name: "flushall"}, nil, true, true},
		{[]string{"flushdb", "ASYNC"}, Command{Kind: FlushAll, Name: "flushdb"}, nil, true, true},
		{[]string{"FlushAll", "sync"}, Command{Kind: FlushAll, Name: "flushall"}, nil, true, true},
	} {
		args := argv(tc.args...)
		c, reply := Parse(args)
		if reply != nil {
			t.Errorf("Parse(%q) = error %q", tc.args, reply.GetStr())
			continue
		}
		want := tc.want
		want.Args = args
		if !sameCommand(c, &want) {
			t.Errorf("Parse(%q) = %+v\nwant %+v", tc.args, *c, want)
		}
		if got := c.ValuePositions(); !slices.Equal(got, tc.positions) {
			t.Errorf("Parse(%q).ValuePositions() = %v, want %v", tc.args, got, tc.positions)
		}
		if c.IsWrite() != tc.write {
			t.Errorf("Parse(%q).IsWrite() = %v, want %v", tc.args, c.IsWrite(), tc.write)
		}
		if c.AllKeys() != tc.allKeys {
			t.Errorf("Parse(%q).AllKeys() = %v, want %v", tc.args, c.AllKeys(), tc.allKeys)
		}
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"PING"}, "ping"},
		{[]string{"HeLLo", "3"}, "hello"},
		{[]string{"get", "K"}, "get"},
		{[]string{"\xc3\x89CHO"}, "\xc3\x89cho"}, // only ASCII is lowered
	} {
		if got := Name(argv(tc.args...)); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestParseKeysDoNotGrowIntoArgs(t *testing.T) {
	args := argv("set", "k", "v", "nx")
	c, reply := Parse(args)
	if reply != nil {
		t.Fatalf("Parse: %q", reply.GetStr())
	}
	_ = append(c.Keys, []byte("x"))
	_ = append(c.Values, []byte("y"))
	if string(args[2]) != "v" || string(args[3]) != "nx" {
		t.Fatalf("appending to Keys or Values changed Args: %q", args)
	}
}

func sameCommand(a, b *Command) bool {
	eq := func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) }
	return a.Kind == b.Kind && a.Name == b.Name &&
		eq(a.Keys, b.Keys) && eq(a.Values, b.Values) && eq(a.Args, b.Args) &&
		a.NX == b.NX && a.XX == b.XX && a.Get == b.Get
}

// randomCase spells word with each letter's case drawn at random.
func randomCase(t *rapid.T, word, label string) []byte {
	upper := rapid.SliceOfN(rapid.Bool(), len(word), len(word)).Draw(t, label)
	b := []byte(word)
	for i := range b {
		if upper[i] && 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return b
}

var (
	genBytes = rapid.SliceOfN(rapid.Byte(), 0, 12)
	genKinds = rapid.SampledFrom([]Kind{Get, Set, SetNX, SetXX, GetSet, MGet, MSet, Exists, Del, DBSize, FlushAll})
)

// TestParseGenerated builds valid argument vectors for every command from
// their parts and checks Parse recovers the parts.
func TestParseGenerated(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		kind := genKinds.Draw(t, "kind")
		want := Command{Kind: kind}
		var positions []int
		switch kind {
		case Get:
			want.Name = "get"
			want.Keys = [][]byte{genBytes.Draw(t, "key")}
		case Set, SetNX, SetXX, GetSet:
			want.Name = map[Kind]string{Set: "set", SetNX: "setnx", SetXX: "setxx", GetSet: "getset"}[kind]
			want.Keys = [][]byte{genBytes.Draw(t, "key")}
			want.Values = [][]byte{genBytes.Draw(t, "value")}
			positions = []int{2}
		case MGet, Exists, Del:
			want.Name = map[Kind]string{MGet: "mget", Exists: "exists", Del: "del"}[kind]
			want.Keys = rapid.SliceOfN(genBytes, 1, 6).Draw(t, "keys")
		case MSet:
			want.Name = "mset"
			n := rapid.IntRange(1, 5).Draw(t, "pairs")
			for i := range n {
				want.Keys = append(want.Keys, genBytes.Draw(t, "key"))
				want.Values = append(want.Values, genBytes.Draw(t, "value"))
				positions = append(positions, 2+2*i)
			}
		case DBSize:
			want.Name = "dbsize"
		case FlushAll:
			want.Name = rapid.SampledFrom([]string{"flushall", "flushdb"}).Draw(t, "name")
		}

		args := [][]byte{randomCase(t, want.Name, "nameCase")}
		switch kind {
		case Get, MGet, Exists, Del:
			args = append(args, want.Keys...)
		case Set, SetNX, SetXX, GetSet:
			args = append(args, want.Keys[0], want.Values[0])
		case MSet:
			for i := range want.Keys {
				args = append(args, want.Keys[i], want.Values[i])
			}
		case FlushAll:
			if mode := rapid.IntRange(0, 2).Draw(t, "mode"); mode > 0 {
				args = append(args, randomCase(t, []string{"", "sync", "async"}[mode], "modeCase"))
			}
		}
		if kind == Set {
			// Any order and repeats of one of NX/XX (or neither) and GET.
			cond := rapid.SampledFrom([]string{"", "nx", "xx"}).Draw(t, "cond")
			var opts []string
			if cond != "" {
				opts = slices.Repeat([]string{cond}, rapid.IntRange(0, 2).Draw(t, "condRepeats"))
			}
			opts = append(opts, slices.Repeat([]string{"get"}, rapid.IntRange(0, 2).Draw(t, "getRepeats"))...)
			opts = rapid.Permutation(opts).Draw(t, "opts")
			for _, o := range opts {
				args = append(args, randomCase(t, o, "optCase"))
				want.NX = want.NX || o == "nx"
				want.XX = want.XX || o == "xx"
				want.Get = want.Get || o == "get"
			}
		}
		want.Args = args

		c, reply := Parse(args)
		if reply != nil {
			t.Fatalf("Parse(%q) = error %q", args, reply.GetStr())
		}
		if !sameCommand(c, &want) {
			t.Fatalf("Parse(%q) = %+v\nwant %+v", args, *c, want)
		}
		if got := c.ValuePositions(); !slices.Equal(got, positions) {
			t.Fatalf("Parse(%q).ValuePositions() = %v, want %v", args, got, positions)
		}
	})
}

// words a fuzzed argument is often drawn from, so that random vectors hit
// real commands and options rather than only unknown commands.
var words = []string{
	"get", "set", "setnx", "setxx", "getset", "mget", "mset", "exists", "del",
	"dbsize", "flushall", "flushdb", "ping", "nx", "xx", "get", "ex", "px",
	"exat", "pxat", "keepttl", "sync", "async", "10", "", "k",
}

// TestParseNeverPanics feeds random argument vectors to Parse: it either
// parses them into a consistent Command or answers an ERR reply that
// marshals and frames.
func TestParseNeverPanics(t *testing.T) {
	arg := rapid.OneOf(
		rapid.Map(rapid.SampledFrom(words), func(w string) []byte { return []byte(w) }),
		rapid.Map(rapid.SampledFrom(words), func(w string) []byte { return []byte(strings.ToUpper(w)) }),
		rapid.SliceOfN(rapid.Byte(), 0, 200),
	)
	rapid.Check(t, func(t *rapid.T) {
		args := rapid.SliceOfN(arg, 0, 10).Draw(t, "args")
		c, reply := Parse(args)
		if (c == nil) == (reply == nil) {
			t.Fatalf("Parse(%q) = %v, %v; want exactly one", args, c, reply)
		}
		if reply != nil {
			if reply.GetKind() != wire.Reply_ERROR || !strings.HasPrefix(reply.GetStr(), "ERR ") {
				t.Fatalf("Parse(%q) reply = %v %q, want an ERR error", args, reply.GetKind(), reply.GetStr())
			}
			if strings.ContainsAny(reply.GetStr(), "\r\n") {
				t.Fatalf("Parse(%q) reply %q holds CR or LF", args, reply.GetStr())
			}
			if _, err := proto.Marshal(reply); err != nil {
				t.Fatalf("Parse(%q) reply does not marshal: %v", args, err)
			}
			return
		}
		if c.Kind < Get || c.Kind > FlushAll {
			t.Fatalf("Parse(%q).Kind = %v", args, c.Kind)
		}
		if c.Name != Name(args) || !slices.EqualFunc(c.Args, args, bytes.Equal) {
			t.Fatalf("Parse(%q) = %+v: Name or Args differ from the input", args, *c)
		}
		positions := c.ValuePositions()
		if len(positions) != len(c.Values) {
			t.Fatalf("Parse(%q): %d value positions for %d values", args, len(positions), len(c.Values))
		}
		for i, p := range positions {
			if !bytes.Equal(args[p], c.Values[i]) {
				t.Fatalf("Parse(%q): value %d is %q, Args[%d] is %q", args, i, c.Values[i], p, args[p])
			}
		}
		if c.NX && c.XX {
			t.Fatalf("Parse(%q): both NX and XX", args)
		}
		if len(c.Keys) == 0 && !c.AllKeys() {
			t.Fatalf("Parse(%q): no keys", args)
		}
	})
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Get: "Get", SetNX: "SetNX", FlushAll: "FlushAll", 0: "Kind(0)", 200: "Kind(200)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}
