package net

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// respRecordingGateway is a respTestStore that records every command it
// is sent, so a test can see what a MULTI block became.
type respRecordingGateway struct {
	*respTestStore
	mu   sync.Mutex
	sent []string
}

func (g *respRecordingGateway) Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = string(a)
	}
	g.mu.Lock()
	g.sent = append(g.sent, strings.Join(parts, " "))
	g.mu.Unlock()
	g.respTestStore.Send(ctx, args, done)
}

func (g *respRecordingGateway) commands() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.sent...)
}

func respStartRecording(t *testing.T) (*RESPServer, *respRecordingGateway) {
	g := &respRecordingGateway{respTestStore: newRESPTestStore()}
	s, _, _ := respStart(t, RESPConfig{Gateway: g})
	return s, g
}

// A block of writes runs as one MSET (atomic across shards in castkv), the
// last value of a key standing, and every queued command answers OK.
func TestRESPMultiWriteBlockIsOneMSET(t *testing.T) {
	s, g := respStartRecording(t)
	c := respDial(t, s.Addr())
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("SET", "a", "1"), "+QUEUED\r\n")
	c.expect(respArray("MSET", "b", "2", "a", "3"), "+QUEUED\r\n")
	if got := g.commands(); len(got) != 0 {
		t.Fatalf("queued commands reached the cluster before EXEC: %q", got)
	}
	c.expect(respArray("EXEC"), "*2\r\n+OK\r\n+OK\r\n")
	if got := g.commands(); len(got) != 1 || got[0] != "MSET a 3 b 2" {
		t.Errorf("the cluster was sent %q, want one MSET a 3 b 2", got)
	}
	c.expect(respArray("MGET", "a", "b"), "*2\r\n$1\r\n3\r\n$1\r\n2\r\n")
}

// A block of reads is one MGET, read at one timestamp, answered per command.
func TestRESPMultiReadBlockIsOneMGET(t *testing.T) {
	s, g := respStartRecording(t)
	c := respDial(t, s.Addr())
	c.expect(respArray("SET", "x", "1"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("GET", "x"), "+QUEUED\r\n")
	c.expect(respArray("MGET", "x", "y"), "+QUEUED\r\n")
	c.expect(respArray("EXISTS", "x", "y", "x"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*3\r\n$1\r\n1\r\n*2\r\n$1\r\n1\r\n$-1\r\n:2\r\n")
	if got := g.commands(); len(got) != 2 || got[1] != "MGET x x y x y x" {
		t.Errorf("the cluster was sent %q, want SET then one MGET x x y x y x", got)
	}
}

// What the cluster does not run, or a command with a wrong arity or
// syntax, is refused when it is queued, and the block with it: nothing of
// it runs (before MULTI existed, MULTI and EXEC were unknown commands and
// the SET between them ran at once).
func TestRESPMultiRefusesAtQueueing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block [][]string
		want  string // the refused command's error, a prefix
	}{
		{"a port command", [][]string{{"SET", "a", "1"}, {"INFO"}}, "-ERR castkv cannot run INFO inside MULTI"},
		{"a command over every key", [][]string{{"SET", "a", "1"}, {"DBSIZE"}}, "-ERR castkv cannot run DBSIZE inside MULTI"},
		{"unknown", [][]string{{"SET", "a", "1"}, {"NOSUCH"}}, "-ERR unknown command 'NOSUCH'"},
		{"arity", [][]string{{"SET", "a", "1"}, {"GET"}}, "-ERR wrong number of arguments for 'get' command"},
		{"syntax", [][]string{{"SET", "a", "1"}, {"SET", "a", "1", "BOGUS"}}, "-ERR syntax error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, g := respStartRecording(t)
			c := respDial(t, s.Addr())
			c.expect(respArray("MULTI"), "+OK\r\n")
			for i, cmd := range tc.block {
				got := c.roundTrip(respArray(cmd...))
				if i < len(tc.block)-1 {
					if got != "+QUEUED\r\n" {
						t.Fatalf("%q: %q, want QUEUED", cmd, got)
					}
				} else if !strings.HasPrefix(got, tc.want) {
					t.Fatalf("%q: %q, want %q...", cmd, got, tc.want)
				}
			}
			c.expect(respArray("EXEC"), "-"+respExecAbort+"\r\n")
			if got := g.commands(); len(got) != 0 {
				t.Errorf("an aborted block reached the cluster: %q", got)
			}
			// The connection is out of the block: commands run again.
			c.expect(respArray("GET", "a"), "$-1\r\n")
		})
	}
}

// A block that mixes reads and writes, or has other commands than SET and
// GET, runs as one command.Multi: in order, each command seeing the
// writes before it, a failing command's error in its place.
func TestRESPMultiMixedBlockRunsInOrder(t *testing.T) {
	s, g := respStartRecording(t)
	c := respDial(t, s.Addr())
	c.expect(respArray("SET", "s", "str"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	for _, cmd := range [][]string{{"INCR", "n"}, {"INCRBY", "n", "10"}, {"GET", "n"}, {"INCR", "s"}, {"SET", "k", "v", "NX"}, {"DEL", "s"}, {"EXISTS", "s", "k"}} {
		c.expect(respArray(cmd...), "+QUEUED\r\n")
	}
	c.expect(respArray("EXEC"), "*7\r\n:1\r\n:11\r\n$2\r\n11\r\n-ERR value is not an integer or out of range\r\n+OK\r\n:1\r\n:1\r\n")
	if got := g.commands(); len(got) != 2 || !strings.HasPrefix(got[1], "EXEC 2 INCR n 3 INCRBY n 10") {
		t.Errorf("the cluster was sent %q, want SET then one EXEC", got)
	}
	c.expect(respArray("MGET", "n", "s", "k"), "*3\r\n$2\r\n11\r\n$-1\r\n$1\r\nv\r\n")
}

func TestRESPMultiErrorsAsRedis(t *testing.T) {
	s, _ := respStartRecording(t)
	c := respDial(t, s.Addr())
	c.expect(respArray("EXEC"), "-"+respExecNoMulti+"\r\n")
	c.expect(respArray("DISCARD"), "-"+respDiscardNoMulti+"\r\n")
	c.expect(respArray("MULTI", "x"), "-ERR wrong number of arguments for 'multi' command\r\n")
	c.expect(respArray("UNWATCH"), "+OK\r\n")
	c.expect(respArray("WATCH"), "-ERR wrong number of arguments for 'watch' command\r\n")
	c.expect(respArray("WATCH", "k"), "+OK\r\n")
	c.expect(respArray("UNWATCH"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("WATCH", "k"), "-"+respWatchInMulti+"\r\n")
	c.expect(respArray("DISCARD"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("MULTI"), "-"+respMultiNested+"\r\n")
	c.expect(respArray("SET", "k", "v"), "+QUEUED\r\n")
	c.expect(respArray("DISCARD"), "+OK\r\n")
	c.expect(respArray("GET", "k"), "$-1\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("EXEC"), "*0\r\n")
}

// go-redis's TxPipeline sends MULTI, its commands and EXEC in one write:
// a block castkv can run is applied whole; one it cannot is not applied
// at all, and the client hears that it failed.
func TestRESPGoRedisTxPipeline(t *testing.T) {
	s, store, _ := respStart(t, RESPConfig{})
	ctx := context.Background()
	c := respGoRedis(t, s.Addr(), &redis.Options{Protocol: 2})
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{u}a", "1", 0)
		p.MSet(ctx, "{u}b", "2")
		return nil
	})
	if err != nil || len(cmds) != 2 {
		t.Fatalf("TxPipelined: %v, %d commands", err, len(cmds))
	}
	if v, _ := store.value("{u}b"); string(v) != "2" {
		t.Errorf("{u}b = %q after the block", v)
	}

	var incr *redis.IntCmd
	if _, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, "{u}a")
		p.Del(ctx, "{u}b")
		return nil
	}); err != nil || incr.Val() != 2 {
		t.Fatalf("TxPipelined with INCR and DEL: %v, INCR %d", err, incr.Val())
	}
	if _, ok := store.value("{u}b"); ok {
		t.Error("the DEL of the block did not run")
	}

	cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{u}c", "1", 0)
		p.Do(ctx, "DBSIZE")
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("TxPipelined with DBSIZE: %v, want EXECABORT", err)
	}
	t.Logf("go-redis: %v; DBSIZE: %v", err, cmds[1].Err())
	if _, ok := store.value("{u}c"); ok {
		t.Error("a SET of a refused block ran")
	}
}

// A connection that ends inside a block gives its queued bytes back to the
// client memory budget; a block larger than a connection's bound is
// refused.
func TestRESPMultiBudget(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{MaxPipeline: 4})
	c := respDial(t, s.Addr())
	c.expect(respArray("MULTI"), "+OK\r\n")
	big := strings.Repeat("v", 1<<16)
	for range 4 {
		c.expect(respArray("SET", "k", big), "+QUEUED\r\n")
	}
	if used, _ := s.budget.usage(); used < 4<<16 {
		t.Errorf("budget in use %d with 4 queued values of 64 KiB", used)
	}
	if got := c.roundTrip(respArray("SET", "k", "v")); !strings.HasPrefix(got, "-ERR MULTI block too large") {
		t.Errorf("a fifth command with MaxPipeline 4: %q", got)
	}
	c.conn.Close()
	respWaitFor(t, "the block's bytes to be given back", func() bool { used, _ := s.budget.usage(); return used == 0 })
}

// Every command that names keys gives the port those keys' hashes, so that
// pipelined commands on one key keep their order (respConn.forward): a
// command missing from keyHashes would let a pipelined INCR k and GET k
// run at once, and the GET miss the INCR sent before it.
func TestRESPKeyHashesCoverEveryKeyedCommand(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	names, arity := command.Names()
	for _, name := range names {
		n := arity[name]
		if n < 0 {
			n = -n + 1 // a variadic command with one argument more than its least
		}
		args := [][]byte{[]byte(name)}
		for i := 1; i < n; i++ {
			args = append(args, []byte(strconv.Itoa(i)))
		}
		cmd, bad := command.Parse(args)
		if bad != nil || cmd.AllKeys() || len(cmd.Keys) == 0 {
			continue
		}
		var want []uint64
		for _, k := range cmd.Keys {
			want = append(want, maphash.Bytes(s.keySeed, k))
		}
		if got := s.keyHashes(name, args, nil); !slices.Equal(got, want) {
			t.Errorf("%s: keyHashes %v, want one per key %q", name, got, cmd.Keys)
		}
	}
}

// COMMAND describes every command the cluster parses, with its arity, so
// that clients which read COMMAND (go-redis's cluster mode, redis-cli's
// hints) know them.
func TestRESPCommandTableCoversParse(t *testing.T) {
	names, arity := command.Names()
	table := map[string]*respSpec{}
	for _, s := range respCommands {
		table[s.name] = s
	}
	for _, name := range names {
		s, ok := table[name]
		switch {
		case !ok:
			t.Errorf("COMMAND lacks %s, which the cluster parses", name)
		case len(s.subs) > 0:
			// A container (CLUSTER): Parse takes its subcommands only.
		case s.arity != arity[name]:
			t.Errorf("COMMAND says %s has arity %d; Parse, %d", name, s.arity, arity[name])
		}
	}
	if !slices.IsSortedFunc(respCommands, func(a, b *respSpec) int { return strings.Compare(a.name, b.name) }) {
		t.Error("respCommands is not sorted by name")
	}
}

// A MULTI block sent to the cluster carries its commands' keys for the
// port's ordering, so a pipelined SET k before it runs first.
func TestRESPKeyHashesOfABlock(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	args := command.ExecArgs([][][]byte{{[]byte("INCR"), []byte("a")}, {[]byte("MSET"), []byte("b"), []byte("1"), []byte("c"), []byte("2")}}, nil)
	want := []uint64{maphash.Bytes(s.keySeed, []byte("a")), maphash.Bytes(s.keySeed, []byte("b")), maphash.Bytes(s.keySeed, []byte("c"))}
	if got := s.keyHashes("exec", args, nil); !slices.Equal(got, want) {
		t.Errorf("keyHashes of a block %v, want %v", got, want)
	}
}

// ROLE answers as a master with no replicas; RESET ends a MULTI block
// (giving its bytes back) and the client's name, and asks for AUTH again
// when a password is set.
func TestRESPRoleAndReset(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{RequirePass: "pw"})
	c := respDial(t, s.Addr())
	c.expect(respArray("AUTH", "pw"), "+OK\r\n")
	c.expect(respArray("ROLE"), "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
	c.expect(respArray("CLIENT", "SETNAME", "me"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("SET", "k", strings.Repeat("v", 4096)), "+QUEUED\r\n")
	c.expect(respArray("RESET"), "+RESET\r\n")
	if used, _ := s.budget.usage(); used > 1024 {
		t.Errorf("the block's 4 KiB are still held after RESET: %d bytes", used)
	}
	if got := c.roundTrip(respArray("GET", "k")); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("GET after RESET with a password set: %q, want NOAUTH", got)
	}
	c.expect(respArray("AUTH", "pw"), "+OK\r\n")
	c.expect(respArray("EXEC"), "-"+respExecNoMulti+"\r\n")
	c.expect(respArray("CLIENT", "GETNAME"), "$-1\r\n")
	c.expect(respArray("GET", "k"), "$-1\r\n")
}

// An HTTP request sent to the port closes the connection with no reply,
// as Redis does (cross-protocol scripting).
func TestRESPClosesOnHTTP(t *testing.T) {
	for _, req := range []string{"POST / HTTP/1.1\r\nHost: x\r\n\r\n", "Host: x\r\n"} {
		s, _, _ := respStart(t, RESPConfig{})
		c := respDial(t, s.Addr())
		c.send(req)
		c.expectClosed()
	}
}

// TestRESPWatch: EXEC after WATCH runs only if no watched key changed
// since, by another client or by the watching client itself; the cluster
// gets one EXEC carrying what WATCH saw; EXEC, DISCARD, UNWATCH and RESET
// forget it.
func TestRESPWatch(t *testing.T) {
	s, g := respStartRecording(t)
	c := respDial(t, s.Addr())
	other := respDial(t, s.Addr())
	c.expect(respArray("SET", "k", "1"), "+OK\r\n")

	// Unchanged: the block runs, even one of plain SETs or of GETs.
	c.expect(respArray("WATCH", "k", "absent"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("SET", "k", "2"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*1\r\n+OK\r\n")
	if got := g.commands(); !strings.HasPrefix(got[len(got)-1], "EXEC 6 WATCH 1 k 1 absent 0 ") || !strings.HasSuffix(got[len(got)-1], " 3 SET k 2") {
		t.Errorf("the cluster was sent %q, want one EXEC with what WATCH saw", got[len(got)-1])
	}

	// Changed by another client: nil, and nothing of the block ran.
	c.expect(respArray("WATCH", "k"), "+OK\r\n")
	other.expect(respArray("SET", "k", "3"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("SET", "k", "4"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*-1\r\n")
	c.expect(respArray("GET", "k"), "$1\r\n3\r\n")

	// EXEC forgot the watch: the next block runs.
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("GET", "k"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*1\r\n$1\r\n3\r\n")

	// Changed by the watching client itself, or a key created: nil.
	c.expect(respArray("WATCH", "k", "new"), "+OK\r\n")
	other.expect(respArray("SET", "new", "x"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("GET", "k"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*-1\r\n")
	c.expect(respArray("WATCH", "k"), "+OK\r\n")
	c.expect(respArray("INCR", "k"), ":4\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("EXEC"), "*-1\r\n")

	// UNWATCH, DISCARD and RESET forget it.
	for i, forget := range []string{"UNWATCH", "DISCARD", "RESET"} {
		c.expect(respArray("WATCH", "k"), "+OK\r\n")
		other.expect(respArray("INCR", "k"), ":"+strconv.Itoa(5+i)+"\r\n")
		switch forget {
		case "UNWATCH":
			c.expect(respArray("UNWATCH"), "+OK\r\n")
		case "DISCARD":
			c.expect(respArray("MULTI"), "+OK\r\n")
			c.expect(respArray("DISCARD"), "+OK\r\n")
		case "RESET":
			c.expect(respArray("RESET"), "+RESET\r\n")
		}
		c.expect(respArray("MULTI"), "+OK\r\n")
		c.expect(respArray("SET", "after", forget), "+QUEUED\r\n")
		c.expect(respArray("EXEC"), "*1\r\n+OK\r\n")
	}
}

// TestRESPMultiLocalCommands: PING, ECHO and TIME inside MULTI are
// answered in their places in EXEC's array, as in Redis; WATCH inside
// MULTI is refused without discarding the block.
func TestRESPMultiLocalCommands(t *testing.T) {
	s, _ := respStartRecording(t)
	c := respDial(t, s.Addr())
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("PING"), "+QUEUED\r\n")
	c.expect(respArray("SET", "k", "v"), "+QUEUED\r\n")
	c.expect(respArray("ECHO", "hi"), "+QUEUED\r\n")
	c.expect(respArray("WATCH", "k"), "-"+respWatchInMulti+"\r\n")
	c.expect(respArray("GET", "k"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*4\r\n+PONG\r\n+OK\r\n$2\r\nhi\r\n$1\r\nv\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("PING", "x"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*1\r\n$1\r\nx\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("ECHO"), "-ERR wrong number of arguments for 'echo' command\r\n")
	c.expect(respArray("EXEC"), "-"+respExecAbort+"\r\n")
}

// What one connection watches is bounded (respMaxWatchKeys): a WATCH that
// would pass the bound is refused and watches nothing more; UNWATCH frees
// the room.
func TestRESPWatchIsBounded(t *testing.T) {
	s, _ := respStartRecording(t)
	c := respDial(t, s.Addr())
	many := []string{"WATCH"}
	for i := range respMaxWatchKeys {
		many = append(many, "k"+strconv.Itoa(i))
	}
	c.expect(respArray(many...), "+OK\r\n")
	c.expect(respArray("WATCH", "one-more"), fmt.Sprintf("-ERR too many watched keys: a connection watches at most %d keys of %d bytes in all "+
		"until EXEC, DISCARD or UNWATCH; this WATCH would make %d keys of %d bytes, and was not applied\r\n",
		respMaxWatchKeys, respMaxWatchBytes, respMaxWatchKeys+1, len(strings.Join(many[1:], ""))+len("one-more")))
	c.expect(respArray("UNWATCH"), "+OK\r\n")
	c.expect(respArray("WATCH", "one-more"), "+OK\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("EXEC"), "*0\r\n")
}
