package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	commandTimeout  = e2eCommandTimeout // one command in the dev tests
	redisCLITimeout = e2eCommandTimeout // one redis-cli run
	redisCLIPath    = "/usr/bin/redis-cli"
	// manyCommandsTimeout bounds a group of commands that share a context.
	manyCommandsTimeout = 3 * time.Minute
)

// devCluster is `castd dev` on fresh ports and a fresh data dir.
type devCluster struct {
	d          *daemon
	clientAddr string
	peerBase   int
	dataDir    string
}

func startDev(t *testing.T, ps *procs, extra ...string) *devCluster {
	t.Helper()
	return startDevBin(t, ps, "", extra...)
}

// startDevBin is startDev with another castd binary (empty: castdBin).
func startDevBin(t *testing.T, ps *procs, bin string, extra ...string) *devCluster {
	t.Helper()
	ports := freePorts(t, 8) // seven cluster ports, then the client port
	dc := &devCluster{
		clientAddr: loopback(ports[7]),
		peerBase:   ports[0],
		dataDir:    filepath.Join(ps.dir, "dev-data"),
	}
	args := append([]string{"dev",
		"--listen", dc.clientAddr,
		"--data-dir", dc.dataDir,
		"--peer-base", strconv.Itoa(dc.peerBase),
		"--log-level", "warn",
		"--fail-timeout", e2eFailTimeout.String(),
		"--remove-after", e2eRemoveAfter.String(),
		"--request-timeout", e2eRequestTimeout.String(),
	}, extra...)
	dc.d = ps.startBin("dev", bin, args...)
	waitReady(t, dc.clientAddr, dc.d)
	return dc
}

// wantErr is the start of an error reply a command must get.
type wantErr string

// expect sends args with Do and checks the reply against want: a value as
// go-redis's Do returns it (string, int64, []any with nil for a nil bulk),
// redis.Nil, or a wantErr.
func expect(t *testing.T, c *redis.Client, want any, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	got, err := c.Do(ctx, args...).Result()
	sent := fmt.Sprint(args...)
	if len(args) > 1 {
		sent = strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%q", args), "["), "]")
	}
	switch w := want.(type) {
	case error: // redis.Nil
		if err != w {
			t.Errorf("sent %s: got %#v, %v; want %v", sent, got, err, w)
		}
	case wantErr:
		if err == nil || !isRedisError(err) || !strings.HasPrefix(err.Error(), string(w)) {
			t.Errorf("sent %s: got %#v, %v; want an error reply starting %q", sent, got, err, string(w))
		}
	default:
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("sent %s: got %#v, %v; want %#v", sent, got, err, want)
		}
	}
}

// TestDevEveryCommand runs every command of DESIGN.md's "Client API" table
// against `castd dev` with go-redis and redis-cli, checking Redis's reply
// shapes, then restarts the cluster on the same data dir and checks that
// every acknowledged write is still there.
func TestDevEveryCommand(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	httpAddr := loopback(freePorts(t, 1)[0])
	dc := startDev(t, ps, "--http", httpAddr)
	c := newClient(t, dc.clientAddr)
	ctx, cancel := context.WithTimeout(context.Background(), manyCommandsTimeout)
	defer cancel()
	nokey := "nokey"

	t.Run("raw replies", func(t *testing.T) {
		expect(t, c, "OK", "FLUSHALL")
		expect(t, c, redis.Nil, "GET", "a")
		expect(t, c, "OK", "SET", "a", "1")
		expect(t, c, "1", "GET", "a")
		expect(t, c, redis.Nil, "SET", "a", "2", "NX")
		expect(t, c, redis.Nil, "SET", "b", "1", "XX")
		expect(t, c, redis.Nil, "GET", "b")
		expect(t, c, "OK", "SET", "b", "1", "NX")
		expect(t, c, "OK", "SET", "b", "2", "XX")
		expect(t, c, "2", "GET", "b")
		expect(t, c, "1", "SET", "a", "3", "GET")
		expect(t, c, redis.Nil, "SET", "c", "1", "GET") // absent: nil, and it writes
		expect(t, c, "1", "GET", "c")
		expect(t, c, "3", "SET", "a", "4", "NX", "GET") // exists: old value, no write
		expect(t, c, "3", "GET", "a")
		expect(t, c, redis.Nil, "SET", "e", "1", "XX", "GET")
		expect(t, c, redis.Nil, "GET", "e")
		expect(t, c, int64(0), "SETNX", "a", "x")
		expect(t, c, int64(1), "SETNX", "d", "1")
		expect(t, c, int64(1), "SETXX", "d", "2")
		expect(t, c, int64(0), "SETXX", "e", "1")
		expect(t, c, redis.Nil, "GET", "e")
		expect(t, c, "2", "GETSET", "d", "3")
		expect(t, c, redis.Nil, "GETSET", "f", "1")
		expect(t, c, "OK", "MSET", "g", "1", "h", "2")
		expect(t, c, []any{"3", nil, "1", "2"}, "MGET", "a", nokey, "g", "h")
		expect(t, c, "OK", "MSET", "g", "x", "g", "y") // a key named twice keeps the last value
		expect(t, c, "y", "GET", "g")
		expect(t, c, int64(2), "EXISTS", "a", "a", nokey)
		expect(t, c, int64(7), "DBSIZE") // a b c d f g h
		expect(t, c, int64(2), "DEL", "a", nokey, "a", "b")
		expect(t, c, int64(0), "DEL", "a")
		expect(t, c, int64(5), "DBSIZE")
		expect(t, c, "OK", "FLUSHDB")
		expect(t, c, int64(0), "DBSIZE")
		expect(t, c, "OK", "MSET", "g", "1")
		expect(t, c, "OK", "FLUSHALL")
		expect(t, c, int64(0), "DBSIZE")
		expect(t, c, "PONG", "PING")
		expect(t, c, "hi", "PING", "hi")
		expect(t, c, "a b\r\nc", "ECHO", "a b\r\nc")
		expect(t, c, "OK", "SELECT", "0")
		expect(t, c, "OK", "CLIENT", "SETNAME", "e2e")
		expect(t, c, "e2e", "CLIENT", "GETNAME")
		expect(t, c, wantErr("ERR wrong number of arguments for 'get' command"), "GET")
		expect(t, c, wantErr("ERR wrong number of arguments for 'set' command"), "SET", "k")
		expect(t, c, wantErr("ERR unknown command 'nope'"), "nope")
		expect(t, c, wantErr("ERR unknown command 'nope'"), "nope", "x")
		expect(t, c, wantErr("ERR syntax error"), "SET", "k", "v", "NX", "XX")
		expect(t, c, redis.Nil, "GET", "k") // the refused SET wrote nothing
		expect(t, c, "PONG", "PING")        // errors keep the connection usable
	})

	t.Run("typed API", func(t *testing.T) {
		if err := c.Set(ctx, "s", "1", 0).Err(); err != nil {
			t.Errorf("Set s: %v", err)
		}
		if _, err := c.Get(ctx, nokey).Result(); err != redis.Nil {
			t.Errorf("Get %s: %v, want redis.Nil", nokey, err)
		}
		// go-redis sends SET ... NX and SET ... XX for these.
		if ok, err := c.SetNX(ctx, "s", "2", 0).Result(); ok || err != nil {
			t.Errorf("SetNX on an existing key: %v, %v; want false", ok, err)
		}
		if ok, err := c.SetNX(ctx, "t", "1", 0).Result(); !ok || err != nil {
			t.Errorf("SetNX on an absent key: %v, %v; want true", ok, err)
		}
		if ok, err := c.SetXX(ctx, "u", "1", 0).Result(); ok || err != nil {
			t.Errorf("SetXX on an absent key: %v, %v; want false", ok, err)
		}
		if ok, err := c.SetXX(ctx, "t", "2", 0).Result(); !ok || err != nil {
			t.Errorf("SetXX on an existing key: %v, %v; want true", ok, err)
		}
		if old, err := c.SetArgs(ctx, "t", "3", redis.SetArgs{Get: true}).Result(); old != "2" || err != nil {
			t.Errorf("SetArgs t 3 GET: %q, %v; want \"2\"", old, err)
		}
		if old, err := c.GetSet(ctx, "s", "9").Result(); old != "1" || err != nil {
			t.Errorf("GetSet s: %q, %v; want \"1\"", old, err)
		}
		if err := c.MSet(ctx, "m1", "a", "m2", "b").Err(); err != nil {
			t.Errorf("MSet: %v", err)
		}
		if got, err := c.MGet(ctx, "m1", nokey, "m2").Result(); err != nil || !reflect.DeepEqual(got, []any{"a", nil, "b"}) {
			t.Errorf("MGet m1 %s m2: %#v, %v", nokey, got, err)
		}
		if n, err := c.Exists(ctx, "m1", "m1", nokey).Result(); n != 2 || err != nil {
			t.Errorf("Exists m1 m1 %s: %d, %v; want 2", nokey, n, err)
		}
		if n, err := c.DBSize(ctx).Result(); n != 4 || err != nil {
			t.Errorf("DBSize: %d, %v; want 4 (s t m1 m2)", n, err)
		}
		if n, err := c.Del(ctx, "m1", "m2", nokey).Result(); n != 2 || err != nil {
			t.Errorf("Del m1 m2 %s: %d, %v; want 2", nokey, n, err)
		}
		if got, err := c.Ping(ctx).Result(); got != "PONG" || err != nil {
			t.Errorf("Ping: %q, %v", got, err)
		}
		if got, err := c.Echo(ctx, "hello").Result(); got != "hello" || err != nil {
			t.Errorf("Echo: %q, %v", got, err)
		}
		// INFO leaves out the keyspace section when DBSIZE takes over a
		// second (castd's keyspace), as it can on a busy machine: ask again
		// until it is there.
		var info string
		var err error
		for begin := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			info, err = c.Info(ctx).Result()
			if err != nil || strings.Contains(info, "db0:") || time.Since(begin) > commandTimeout {
				break
			}
		}
		if err != nil || !strings.Contains(info, "# Server") {
			t.Errorf("Info: %v; reply without \"# Server\":\n%.500s", err, info)
		} else if !strings.Contains(info, "db0:keys=2") {
			t.Errorf("Info: keyspace section without \"db0:keys=2\" (for %v):\n%s", commandTimeout, info)
		} else if !strings.Contains(info, "# Cluster\r\ncastkv_data_servers:3\r\n") || !strings.Contains(info, "castkv_state:ok\r\n") {
			t.Errorf("Info: cluster section without castkv_data_servers:3 and castkv_state:ok:\n%s", info)
		}
		if err := c.Do(ctx, "SELECT", "0").Err(); err != nil {
			t.Errorf("SELECT 0: %v", err)
		}
		n, err := c.Do(ctx, "COMMAND", "COUNT").Int64()
		if err != nil || n < 12 {
			t.Errorf("COMMAND COUNT: %d, %v; want at least the 12 data commands", n, err)
		}
		if err := c.FlushDB(ctx).Err(); err != nil {
			t.Errorf("FlushDB: %v", err)
		}
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Errorf("FlushAll: %v", err)
		}
		if n, err := c.DBSize(ctx).Result(); n != 0 || err != nil {
			t.Errorf("DBSize after FLUSHALL: %d, %v; want 0", n, err)
		}
	})

	t.Run("string commands", func(t *testing.T) {
		// Evaluated at the shard's primary against the sequenced value,
		// so each read-modify-write is one step of the log.
		expect(t, c, int64(1), "INCR", "ctr")
		expect(t, c, int64(11), "INCRBY", "ctr", "10")
		expect(t, c, int64(9), "DECRBY", "ctr", "2")
		expect(t, c, int64(8), "DECR", "ctr")
		expect(t, c, "8.5", "INCRBYFLOAT", "ctr", "0.5")
		expect(t, c, int64(5), "APPEND", "str", "hello")
		expect(t, c, int64(5), "STRLEN", "str")
		expect(t, c, "ell", "GETRANGE", "str", "1", "3")
		expect(t, c, int64(7), "SETRANGE", "str", "5", "!!")
		expect(t, c, "string", "TYPE", "str")
		expect(t, c, "hello!!", "GETDEL", "str")
		expect(t, c, "none", "TYPE", "str")
		expect(t, c, int64(1), "UNLINK", "ctr", "str")
		expect(t, c, int64(1), "MSETNX", "nx1", "a", "nx2", "b")
		expect(t, c, int64(0), "MSETNX", "nx2", "c", "nx3", "d")
		expect(t, c, int64(2), "DEL", "nx1", "nx2", "nx3")
		if _, err := c.Do(ctx, "INCR", "ctr", "x").Result(); err == nil || !strings.Contains(err.Error(), "wrong number of arguments") {
			t.Errorf("INCR with two keys: %v", err)
		}
		if err := c.Set(ctx, "notint", "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Incr(ctx, "notint").Result(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
			t.Errorf("INCR of a string: %v", err)
		}
		c.Del(ctx, "notint")
	})

	t.Run("expiry", func(t *testing.T) {
		// A cache entry, a lock, a large value with a TTL (its value is
		// staged on every replica apart from the command, and the TTL
		// must travel with the entry), and expiry changed after the fact.
		base, err := c.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "ttl:cache", "v", 400*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		if ok, err := c.SetNX(ctx, "ttl:lock", "me", 30*time.Second).Result(); !ok || err != nil {
			t.Fatalf("SET lock me NX PX 30000: %v, %v", ok, err)
		}
		if ok, err := c.SetNX(ctx, "ttl:lock", "you", 30*time.Second).Result(); ok || err != nil {
			t.Fatalf("a second SET lock NX PX: %v, %v; want false", ok, err)
		}
		big := strings.Repeat("b", 2<<20)
		if err := c.Set(ctx, "ttl:big", big, 1000*time.Second).Err(); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"ttl:lock", "ttl:big"} {
			if ttl, err := c.TTL(ctx, k).Result(); err != nil || ttl <= 0 || ttl > 1000*time.Second {
				t.Errorf("TTL %s: %v, %v; want a positive TTL", k, ttl, err)
			}
		}
		if ok, err := c.Expire(ctx, "ttl:lock", 100*time.Second).Result(); !ok || err != nil {
			t.Errorf("EXPIRE lock 100: %v, %v", ok, err)
		}
		if ttl, err := c.TTL(ctx, "ttl:lock").Result(); err != nil || ttl <= 30*time.Second {
			t.Errorf("TTL lock after EXPIRE 100: %v, %v", ttl, err)
		}
		if ok, err := c.Persist(ctx, "ttl:lock").Result(); !ok || err != nil {
			t.Errorf("PERSIST lock: %v, %v", ok, err)
		}
		if ttl, err := c.TTL(ctx, "ttl:lock").Result(); err != nil || ttl != -1 {
			t.Errorf("TTL lock after PERSIST: %v, %v; want -1 (no expiry)", ttl, err)
		}
		if v, err := c.GetEx(ctx, "ttl:lock", 200*time.Millisecond).Result(); v != "me" || err != nil {
			t.Errorf("GETEX lock PX 200: %q, %v", v, err)
		}
		expect(t, c, "OK", "SETEX", "ttl:setex", "1000", "x")
		expect(t, c, int64(1000), "TTL", "ttl:setex")
		time.Sleep(450 * time.Millisecond)
		for _, k := range []string{"ttl:cache", "ttl:lock"} {
			if n, err := c.Exists(ctx, k).Result(); n != 0 || err != nil {
				t.Errorf("EXISTS %s after its TTL: %d, %v; want 0", k, n, err)
			}
		}
		if v, err := c.Get(ctx, "ttl:big").Result(); err != nil || len(v) != len(big) {
			t.Errorf("GET big: %d bytes, %v", len(v), err)
		}
		// The primary reclaims expired keys in the background: DBSIZE,
		// which counts keys not yet reclaimed as Redis's does, drops.
		want := base + 2 // ttl:big and ttl:setex
		n, err := c.DBSize(ctx).Result()
		for deadline := time.Now().Add(10 * time.Second); err == nil && n != want && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			n, err = c.DBSize(ctx).Result()
		}
		if n != want || err != nil {
			t.Errorf("DBSIZE after the TTLs ran out: %d, %v; want %d (the expired keys reclaimed)", n, err, want)
		}
		if err := c.Del(ctx, "ttl:big", "ttl:setex").Err(); err != nil {
			t.Error(err)
		}
	})

	t.Run("MULTI", func(t *testing.T) {
		// go-redis's TxPipeline: a block of writes applies whole, a block
		// of reads answers from one snapshot, and a block castkv cannot
		// run atomically fails whole with nothing applied.
		if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "tx1", "a", 0)
			p.MSet(ctx, "tx2", "b", "tx1", "c")
			return nil
		}); err != nil {
			t.Fatalf("a write block: %v", err)
		}
		var get *redis.StringCmd
		var exists *redis.IntCmd
		if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, "tx1")
			exists = p.Exists(ctx, "tx1", "tx2", nokey)
			return nil
		}); err != nil || get.Val() != "c" || exists.Val() != 2 {
			t.Fatalf("a read block: %v; GET tx1 %q, EXISTS %d; want c and 2", err, get.Val(), exists.Val())
		}
		// A block of other commands runs in order as one step: the
		// rate limiter's INCR, a DEL, a read of what it wrote.
		var ctr *redis.IntCmd
		var after *redis.StringCmd
		if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			ctr = p.Incr(ctx, "txctr")
			p.IncrBy(ctx, "txctr", 9)
			p.Del(ctx, "tx2")
			after = p.Get(ctx, "txctr")
			return nil
		}); err != nil || ctr.Val() != 1 || after.Val() != "10" {
			t.Fatalf("a mixed block: %v; INCR %d, GET %q", err, ctr.Val(), after.Val())
		}
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "tx3", "x", 0)
			p.Do(ctx, "DBSIZE")
			return nil
		})
		if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
			t.Fatalf("a block with DBSIZE: %v, want EXECABORT", err)
		}
		if n, err := c.Exists(ctx, "tx1", "tx2", "tx3").Result(); n != 1 || err != nil {
			t.Errorf("after the blocks: EXISTS tx1 tx2 tx3 = %d, %v; want 1 (tx1 kept, tx2 deleted, tx3 never set)", n, err)
		}
		c.Del(ctx, "txctr")
		if err := c.Del(ctx, "tx1", "tx2").Err(); err != nil {
			t.Error(err)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// Every role counts what it handled; the port counts commands by
		// name and result. The commands of the subtests above are in.
		get := func(path string) (int, string) {
			resp, err := http.Get("http://" + httpAddr + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		if code, body := get("/healthz"); code != 200 {
			t.Errorf("/healthz: %d %s", code, body)
		}
		if code, body := get("/readyz"); code != 200 {
			t.Errorf("/readyz: %d %s", code, body)
		}
		_, body := get("/metrics")
		for _, want := range []string{
			`castkv_commands_total{cmd="set",result="ok"}`,
			`castkv_commands_total{cmd="incr",result="ERR"}`, // INCR of a string
			`castkv_command_duration_seconds_bucket{cmd="get",le=`,
			`castkv_role_messages_total{msg="Commit",role="` + loopback(dc.peerBase+3) + `/data"}`,
			`castkv_fsync_seconds_count{role="` + loopback(dc.peerBase+3) + `/data"}`,
			`castkv_resp_connections `,
			`go_goroutines `,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if t.Failed() {
			t.Logf("/metrics:\n%s", body)
		}
	})

	t.Run("RESP3", func(t *testing.T) {
		// go-redis's default opens with HELLO 3 and speaks RESP3.
		c3 := redis.NewClient(&redis.Options{Addr: dc.clientAddr, MaxRetries: -1})
		defer c3.Close()
		if err := c3.Set(ctx, "h3", "v", 0).Err(); err != nil {
			t.Fatalf("protocol 3 client: SET h3: %v", err)
		}
		if got, err := c3.Get(ctx, "h3").Result(); got != "v" || err != nil {
			t.Errorf("protocol 3 client: GET h3: %q, %v", got, err)
		}
		if _, err := c3.Get(ctx, nokey).Result(); err != redis.Nil {
			t.Errorf("protocol 3 client: GET %s: %v, want redis.Nil", nokey, err)
		}
		if err := c3.Del(ctx, "h3").Err(); err != nil {
			t.Errorf("protocol 3 client: DEL h3: %v", err)
		}
	})

	t.Run("redis-cli", func(t *testing.T) {
		if _, err := os.Stat(redisCLIPath); err != nil {
			t.Skipf("%s not installed", redisCLIPath)
		}
		port := dc.clientAddr[strings.LastIndexByte(dc.clientAddr, ':')+1:]
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"SET", "a", "b"}, "OK\n"},
			{[]string{"GET", "a"}, "b\n"},
			{[]string{"MGET", "a", nokey}, "b\n\n"},
			{[]string{"EXISTS", "a", "a"}, "2\n"},
			{[]string{"PING"}, "PONG\n"},
		} {
			cctx, ccancel := context.WithTimeout(ctx, redisCLITimeout)
			args := append([]string{"-h", "127.0.0.1", "-p", port}, tc.args...)
			out, err := exec.CommandContext(cctx, redisCLIPath, args...).CombinedOutput()
			ccancel()
			if err != nil || string(out) != tc.want {
				t.Errorf("redis-cli %s: %q, %v; want %q", strings.Join(args, " "), out, err, tc.want)
			}
		}
	})

	// The state the restart must bring back: written after a flush, with
	// MSET, SET, DEL and one large value.
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	state := map[string]string{"m1": "x", "m2": "y"}
	if err := c.MSet(ctx, "m1", "x", "m2", "y").Err(); err != nil {
		t.Fatalf("MSET m1 x m2 y: %v", err)
	}
	// Not the last write: TestDevRestartAfterLargeValue covers a restart
	// right after a large value.
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB: staged to every replica by the API
	if err := c.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatalf("SET big (%d bytes): %v", len(big), err)
	}
	state["big"] = big
	const nKeys = 50
	for i := range nKeys {
		k, v := fmt.Sprintf("key%02d", i), fmt.Sprintf("value%02d", i)
		if err := c.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatalf("SET %s %s: %v", k, v, err)
		}
		state[k] = v
	}
	if n, err := c.Del(ctx, "key00", "key01").Result(); n != 2 || err != nil {
		t.Fatalf("DEL key00 key01: %d, %v; want 2", n, err)
	}
	delete(state, "key00")
	delete(state, "key01")
	checkState(t, c, state, "before restart")

	t.Run("restart recovers every acknowledged write", func(t *testing.T) {
		c.Close()
		dc.d.stop()
		if t.Failed() {
			t.FailNow()
		}
		dc.d.start()
		waitReady(t, dc.clientAddr, dc.d)
		checkState(t, newClient(t, dc.clientAddr), state, "after restart")
	})
}

// checkState reads every key of state and the key count.
func checkState(t *testing.T, c *redis.Client, state map[string]string, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), manyCommandsTimeout)
	defer cancel()
	for k, want := range state {
		got, err := c.Get(ctx, k).Result()
		if err != nil || got != want {
			t.Errorf("%s: GET %s: %.40q (%d bytes), %v; want %.40q (%d bytes)", when, k, got, len(got), err, want, len(want))
		}
	}
	if n, err := c.DBSize(ctx).Result(); n != int64(len(state)) || err != nil {
		t.Errorf("%s: DBSIZE: %d, %v; want %d", when, n, err, len(state))
	}
}

// TestDevRestartAfterLargeValue restarts an idle `castd dev` whose last
// write, after small ones, was a large value (staged to every replica by
// the API). A clean restart of a healthy, idle cluster must not cost it a
// replica, and every SIGTERM must end the process promptly (stop checks
// both exit and time).
//
// The removal is seen in the daemon's log, as the primary's WARN line
// "replica makes no progress"; nothing else reports it. No wait is needed
// to see it: a write commits only once every secondary has it (or is
// removed), so when waitReady's probe write is acknowledged, every
// secondary has made progress since the restart or its removal is already
// in the log. The cluster runs with --remove-after e2eRemoveAfter: a
// replica that never catches up is still removed (and seen) within
// waitReady's bound, while one that is merely slow on a busy machine is
// not.
func TestDevRestartAfterLargeValue(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	dc := startDev(t, ps)
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	for round := range 2 {
		c := newClient(t, dc.clientAddr)
		ctx, cancel := context.WithTimeout(context.Background(), manyCommandsTimeout)
		for i := range 20 {
			if err := c.Set(ctx, fmt.Sprintf("small%d", i), round, 0).Err(); err != nil {
				cancel()
				t.Fatalf("round %d: SET small%d: %v", round, i, err)
			}
		}
		key := fmt.Sprintf("big%d", round)
		if err := c.Set(ctx, key, big, 0).Err(); err != nil {
			cancel()
			t.Fatalf("round %d: SET %s (%d bytes): %v", round, key, len(big), err)
		}
		cancel()
		c.Close()
		dc.d.stop()
		if t.Failed() {
			t.FailNow()
		}
		dc.d.start()
		waitReady(t, dc.clientAddr, dc.d)
		state := map[string]string{}
		for i := range 20 {
			state[fmt.Sprintf("small%d", i)] = fmt.Sprint(round)
		}
		for r := range round + 1 {
			state[fmt.Sprintf("big%d", r)] = big
		}
		checkState(t, newClient(t, dc.clientAddr), state, fmt.Sprintf("round %d, after restart", round))
		b, err := os.ReadFile(dc.d.stderr)
		if err != nil {
			t.Fatal(err)
		}
		var removals []string
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "replica makes no progress") {
				removals = append(removals, line)
			}
		}
		if len(removals) > 0 {
			t.Errorf("round %d: a clean restart of an idle cluster (last write: a %d-byte value) removed replicas:\n%s",
				round, len(big), strings.Join(removals, "\n"))
		}
		if t.Failed() {
			return // one failed round is the evidence; more only cost time
		}
	}
}
