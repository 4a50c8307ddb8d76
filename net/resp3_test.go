package net

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"castkv/actors/command"
	"castkv/actors/wire"
	"castkv/net/redistest"
)

// respHello3 is HELLO 3's reply to client id on the port, byte for byte.
func respHello3(id int) string {
	return "%7\r\n" + respBulk("server") + respBulk("castkv") + respBulk("version") + respBulk("7.2.0") +
		respBulk("proto") + ":3\r\n" + respBulk("id") + ":" + strconv.Itoa(id) + "\r\n" +
		respBulk("mode") + respBulk("standalone") + respBulk("role") + respBulk("master") + respBulk("modules") + "*0\r\n"
}

// respVerbatimText is text as a RESP3 verbatim string.
func respVerbatimText(text string) string {
	return "=" + strconv.Itoa(len(text)+4) + "\r\ntxt:" + text + "\r\n"
}

// HELLO 3 switches the connection to RESP3, whose replies differ from
// RESP2's only in null, map, set and verbatim string; HELLO 2 and RESET
// switch it back.
func TestRESP3Session(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{Stats: func() map[string]string {
		return map[string]string{"db0": "keys=1,expires=0,avg_ttl=0"}
	}})
	c := respDial(t, s.Addr())
	other := respDial(t, s.Addr())
	c.expect(respArray("GET", "nope"), "$-1\r\n")
	c.expect(respArray("HELLO", "3"), respHello3(1))
	for _, tc := range []struct{ send, want string }{
		{respArray("GET", "nope"), "_\r\n"},
		{respArray("SET", "a", "1"), "+OK\r\n"},
		{respArray("MGET", "a", "nope"), "*2\r\n" + respBulk("1") + "_\r\n"},
		{respArray("CLIENT", "GETNAME"), "_\r\n"},
		{respArray("CONFIG", "GET", "save", "appendonly"), "%2\r\n" + respBulk("appendonly") + respBulk("no") + respBulk("save") + respBulk("")},
		{respArray("CONFIG", "GET", "nosuch"), "%0\r\n"},
		{respArray("INFO", "keyspace"), respVerbatimText("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n")},
		{respArray("INFO", "nosuch"), respVerbatimText("")},
		{respArray("COMMAND", "INFO", "nosuch"), "*1\r\n_\r\n"},
		{respArray("COMMAND", "DOCS", "nosuch"), "%0\r\n"},
		{respArray("INCRBYFLOAT", "f", "1.5"), respBulk("1.5")}, // a bulk string in RESP3 too
		{respArray("PING"), "+PONG\r\n"},
		{respArray("NOSUCH"), "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"},
		{respArray("HELLO", "4"), "-NOPROTO unsupported protocol version\r\n"},
		{respArray("HELLO"), respHello3(1)}, // no version: the current one
		{respArray("GET", "nope"), "_\r\n"},
	} {
		c.expect(tc.send, tc.want)
	}

	// COMMAND INFO's flags, categories, tips and key specifications are
	// sets, each key specification a map; no subcommands is an empty set.
	keyFlags := respLookup("get").keySpecs[0].flags
	c.expect(respArray("COMMAND", "INFO", "get"), "*1\r\n*10\r\n"+respBulk("get")+":2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"+
		"~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n"+respBulk("flags")+"~2\r\n+"+keyFlags[0]+"\r\n+"+keyFlags[1]+"\r\n"+
		respBulk("begin_search")+"%2\r\n"+respBulk("type")+respBulk("index")+respBulk("spec")+"%1\r\n"+respBulk("index")+":1\r\n"+
		respBulk("find_keys")+"%2\r\n"+respBulk("type")+respBulk("range")+respBulk("spec")+"%3\r\n"+
		respBulk("lastkey")+":0\r\n"+respBulk("keystep")+":1\r\n"+respBulk("limit")+":0\r\n~0\r\n")
	subs := "%" + strconv.Itoa(len(respLookup("client").subs)) + "\r\n"
	if got := c.roundTrip(respArray("COMMAND", "DOCS", "client")); !strings.HasPrefix(got, "%1\r\n"+respBulk("client")+"%5\r\n") ||
		!strings.Contains(got, respBulk("subcommands")+subs+respBulk("client|getname")+"%4\r\n") {
		t.Errorf("COMMAND DOCS client is not a map of maps: %q", got)
	}

	info := c.roundTrip(respArray("CLIENT", "INFO"))
	header, text, _ := strings.Cut(info, "\r\n")
	if n, _ := strconv.Atoi(header[1:]); header[0] != '=' || n != len(text)-2 || !strings.HasPrefix(text, "txt:id=1 ") || !strings.Contains(text, " resp=3 ") {
		t.Errorf("CLIENT INFO in RESP3: %q", info)
	}

	// EXEC after a watched key changed: null, as every nil is in RESP3.
	c.expect(respArray("WATCH", "a"), "+OK\r\n")
	other.expect(respArray("SET", "a", "2"), "+OK\r\n") // other still speaks RESP2
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("GET", "a"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "_\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("GET", "nope"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*1\r\n_\r\n")
	other.expect(respArray("MGET", "nope"), "*1\r\n$-1\r\n")

	// HELLO 2 and RESET go back to RESP2; HELLO's reply is already in
	// the protocol it chose.
	hello2 := c.roundTrip(respArray("HELLO", "2"))
	if !strings.HasPrefix(hello2, "*14\r\n") || !strings.Contains(hello2, respBulk("proto")+":2\r\n") {
		t.Errorf("HELLO 2 after HELLO 3: %q", hello2)
	}
	c.expect(respArray("GET", "nope"), "$-1\r\n")
	c.expect(respArray("HELLO", "3"), respHello3(1))
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("RESET"), "+RESET\r\n")
	c.expect(respArray("GET", "nope"), "$-1\r\n")
	c.expect(respArray("CONFIG", "GET", "save"), "*2\r\n"+respBulk("save")+respBulk(""))
	if got := c.roundTrip(respArray("CLIENT", "INFO")); !strings.HasPrefix(got, "$") || !strings.Contains(got, " resp=2 ") {
		t.Errorf("CLIENT INFO after RESET: %q", got)
	}
}

// A failed HELLO 3 leaves the protocol as it was, as in Redis: the switch
// comes after authentication.
func TestRESP3HelloNeedsAuth(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{RequirePass: "secret"})
	c := respDial(t, s.Addr())
	c.expect(respArray("HELLO", "3", "AUTH", "default", "wrong"), "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	c.expect(respArray("HELLO", "3"), "-NOAUTH HELLO must be called with the client already authenticated, "+
		"otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client "+
		"and select the RESP protocol version at the same time\r\n")
	c.expect(respArray("AUTH", "secret"), "+OK\r\n")
	c.expect(respArray("GET", "nope"), "$-1\r\n")
	c.expect(respArray("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "w1"), respHello3(1))
	c.expect(respArray("CLIENT", "GETNAME"), respBulk("w1"))
	c.expect(respArray("RESET"), "+RESET\r\n")
	c.expect(respArray("GET", "nope"), "-NOAUTH Authentication required.\r\n")
}

// A large verbatim string goes out on the writer's path for large bulk
// replies, header and all.
func TestRESP3LargeVerbatim(t *testing.T) {
	big := strings.Repeat("x", 2*respFlushBytes)
	s, _, _ := respStart(t, RESPConfig{Stats: func() map[string]string { return map[string]string{"big.field": big} }})
	c := respDial(t, s.Addr())
	c.expect(respArray("HELLO", "3"), respHello3(1))
	c.expect(respArray("INFO", "big"), respVerbatimText("# Big\r\nfield:"+big+"\r\n"))
	c.expect(respArray("PING"), "+PONG\r\n")
}

// go-redis speaking RESP3 (its default, Protocol 3) reads what the port
// writes: nulls, maps, verbatim strings, sets (COMMAND) and transactions.
func TestRESP3GoRedis(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	ctx := context.Background()
	c := respGoRedis(t, s.Addr(), &redis.Options{Protocol: 3})
	other := respGoRedis(t, s.Addr(), &redis.Options{Protocol: 3})

	// The connection does speak RESP3: HELLO answers a map, with proto 3.
	hello, err := c.Do(ctx, "HELLO").Result()
	if m, ok := hello.(map[any]any); err != nil || !ok || m["proto"] != int64(3) || m["server"] != "castkv" {
		t.Fatalf("HELLO: %#v, %v; want a map with proto 3", hello, err)
	}
	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "a").Result(); got != "1" || err != nil {
		t.Errorf("GET a: %q, %v", got, err)
	}
	if _, err := c.Get(ctx, "nope").Result(); err != redis.Nil {
		t.Errorf("GET nope: %v, want redis.Nil", err)
	}
	if err := c.MSet(ctx, "b", "2", "c", "3").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.MGet(ctx, "a", "nope", "c").Result(); err != nil || fmt.Sprint(got) != "[1 <nil> 3]" {
		t.Errorf("MGET: %v, %v", got, err)
	}
	if got, err := c.ConfigGet(ctx, "save").Result(); err != nil || len(got) != 1 || got["save"] != "" {
		t.Errorf("CONFIG GET save: %v, %v", got, err)
	}
	if got, err := c.Do(ctx, "CONFIG", "GET", "save").Result(); err != nil || fmt.Sprintf("%T", got) != "map[interface {}]interface {}" {
		t.Errorf("CONFIG GET save by Do: %#v, %v; want a map", got, err)
	}
	if got, err := c.Info(ctx, "clients").Result(); err != nil || !strings.HasPrefix(got, "# Clients\r\nconnected_clients:") {
		t.Errorf("INFO clients: %q, %v", got, err)
	}
	if got, err := c.Incr(ctx, "n").Result(); got != 1 || err != nil {
		t.Errorf("INCR n: %d, %v", got, err)
	}
	cmds, err := c.Command(ctx).Result()
	if err != nil {
		t.Fatalf("COMMAND: %v", err)
	}
	if g := cmds["get"]; g == nil || !g.ReadOnly || g.FirstKeyPos != 1 || g.Arity != 2 || fmt.Sprint(g.ACLFlags) != "[@read @string @fast]" {
		t.Errorf("COMMAND get: %+v", g)
	}
	docs, err := c.Do(ctx, "COMMAND", "DOCS", "get").Result()
	if m, ok := docs.(map[any]any); err != nil || !ok || m["get"].(map[any]any)["group"] != "string" {
		t.Errorf("COMMAND DOCS get: %#v, %v; want a map of maps", docs, err)
	}

	conn := c.Conn()
	defer conn.Close()
	if ci, err := conn.ClientInfo(ctx).Result(); err != nil || ci.Resp != 3 {
		t.Errorf("CLIENT INFO: %+v, %v; want resp=3", ci, err)
	}
	if name, err := conn.ClientGetName(ctx).Result(); name != "" || err != redis.Nil {
		t.Errorf("CLIENT GETNAME of an unnamed connection: %q, %v; want redis.Nil", name, err)
	}

	var get *redis.StringCmd
	var miss *redis.StringCmd
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "t", "v", 0)
		get = p.Get(ctx, "t")
		miss = p.Get(ctx, "nope")
		return nil
	}); err != nil && err != redis.Nil {
		t.Fatalf("TxPipelined: %v", err)
	}
	if get.Val() != "v" || miss.Err() != redis.Nil {
		t.Errorf("TxPipelined: GET t %q, GET nope %v", get.Val(), miss.Err())
	}

	// A watched key changed: EXEC's null is the transaction's failure.
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		if err := other.Set(ctx, "a", "changed", 0).Err(); err != nil {
			return err
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "a", "mine", 0)
			return nil
		})
		return err
	}, "a")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Errorf("a transaction on a changed watched key: %v, want redis.TxFailedErr", err)
	}
	if got, err := c.Get(ctx, "a").Result(); got != "changed" || err != nil {
		t.Errorf("GET a after the failed transaction: %q, %v", got, err)
	}
}

// The port marks CLUSTER INFO and CLUSTER SHARDS of the Gateway with
// Redis's shapes: a verbatim string, and maps for shards and nodes.
func TestRESP3ClusterShapes(t *testing.T) {
	info := respClusterShape("cluster", [][]byte{[]byte("CLUSTER"), []byte("INFO")})(command.Bulk([]byte("cluster_state:ok\r\n")))
	if got := string(respAppend(nil, info, respProto3)); got != respVerbatimText("cluster_state:ok\r\n") {
		t.Errorf("CLUSTER INFO in RESP3: %q", got)
	}
	if got := string(respAppend(nil, info, respProto2)); got != respBulk("cluster_state:ok\r\n") {
		t.Errorf("CLUSTER INFO in RESP2: %q", got)
	}
	b := func(s string) *wire.Reply { return command.Bulk([]byte(s)) }
	gateway := command.Array(command.Array(
		b("slots"), command.Array(command.Int(0), command.Int(16383)),
		b("nodes"), command.Array(command.Array(b("id"), b("d1"), b("role"), b("master"))),
		b("castkv-shard"), command.Int(0),
	))
	before := string(command.AppendRESP(nil, gateway))
	shards := respClusterShape("cluster", [][]byte{[]byte("cluster"), []byte("shards")})(gateway)
	want := "*1\r\n%3\r\n" + respBulk("slots") + "*2\r\n:0\r\n:16383\r\n" + respBulk("nodes") + "*1\r\n%2\r\n" +
		respBulk("id") + respBulk("d1") + respBulk("role") + respBulk("master") + respBulk("castkv-shard") + ":0\r\n"
	if got := string(respAppend(nil, shards, respProto3)); got != want {
		t.Errorf("CLUSTER SHARDS in RESP3:\n got %q\nwant %q", got, want)
	}
	if got := string(respAppend(nil, shards, respProto2)); got != before {
		t.Errorf("CLUSTER SHARDS in RESP2: %q, want it as the Gateway gave it, %q", got, before)
	}
	if after := string(command.AppendRESP(nil, gateway)); after != before {
		t.Errorf("shaping changed the Gateway's reply: %q", after)
	}
	if respClusterShape("cluster", [][]byte{[]byte("cluster"), []byte("nodes")}) != nil || respClusterShape("get", [][]byte{[]byte("get"), []byte("k")}) != nil {
		t.Error("respClusterShape shapes a reply that is neither CLUSTER INFO nor CLUSTER SHARDS")
	}
}

// respSession3 is a RESP3 session on two connections (0 and 1), each step
// with the reply Redis 7 gives byte for byte, or, where the two servers
// must differ (names, versions, ids, addresses), only its first byte, the
// type. TestRESP3SessionMatchesRedis checks it against redis-server.
var respSession3 = []struct {
	conn int
	cmd  []string
	want string // the whole reply, or one byte: its type
}{
	{0, []string{"HELLO", "3"}, "%"},
	{0, []string{"GET", "nope"}, "_\r\n"},
	{0, []string{"SET", "a", "1"}, "+OK\r\n"},
	{0, []string{"MGET", "a", "nope"}, "*2\r\n$1\r\n1\r\n_\r\n"},
	{0, []string{"CONFIG", "GET", "save"}, "%1\r\n$4\r\nsave\r\n$0\r\n\r\n"},
	{0, []string{"CONFIG", "GET", "nosuch"}, "%0\r\n"},
	{0, []string{"CLIENT", "GETNAME"}, "_\r\n"},
	{0, []string{"CLIENT", "INFO"}, "="},
	{0, []string{"INFO", "keyspace"}, "=48\r\ntxt:# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n"},
	{0, []string{"COMMAND", "INFO", "nosuch"}, "*1\r\n_\r\n"},
	{0, []string{"WATCH", "a"}, "+OK\r\n"},
	{1, []string{"SET", "a", "2"}, "+OK\r\n"},
	{0, []string{"MULTI"}, "+OK\r\n"},
	{0, []string{"GET", "a"}, "+QUEUED\r\n"},
	{0, []string{"EXEC"}, "_\r\n"},
	{1, []string{"GET", "nope"}, "$-1\r\n"},
	{0, []string{"INCRBYFLOAT", "f", "1.5"}, "$3\r\n1.5\r\n"},
	{0, []string{"HELLO", "4"}, "-NOPROTO unsupported protocol version\r\n"},
	{0, []string{"HELLO"}, "%"},
	{0, []string{"RESET"}, "+RESET\r\n"},
	{0, []string{"GET", "nope"}, "$-1\r\n"},
	{0, []string{"MULTI"}, "+OK\r\n"},
	{0, []string{"EXEC"}, "*0\r\n"},
}

// respRunSession3 runs respSession3 against the server at addr.
func respRunSession3(t *testing.T, server, addr string) {
	t.Helper()
	var conns [2]*respRawClient
	for i := range conns {
		conns[i] = respDial(t, addr)
	}
	for _, step := range respSession3 {
		got := conns[step.conn].roundTrip(respArray(step.cmd...))
		if len(step.want) == 1 && got[:1] != step.want || len(step.want) > 1 && got != step.want {
			t.Errorf("%s: %q: %q, want %q", server, step.cmd, got, step.want)
		}
	}
}

func TestRESP3SessionOnThePort(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{Stats: func() map[string]string {
		return map[string]string{"db0": "keys=1,expires=0,avg_ttl=0"}
	}})
	respRunSession3(t, "castkv", s.Addr())
}

// TestRESP3SessionMatchesRedis runs respSession3 against a real
// redis-server, to check the table itself. It skips, saying so, where none
// is installed (Debian: apt-get install redis-server).
func TestRESP3SessionMatchesRedis(t *testing.T) {
	addr, ok := redistest.Start(t)
	if !ok {
		t.Skip("redis-server is not installed (apt-get install redis-server); the RESP3 session is checked against it where it is")
	}
	respRunSession3(t, "redis-server", addr)
}
