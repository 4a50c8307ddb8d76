package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"castkv/net/redistest"
)

// TestAppAgainstRedis runs one go-redis program, the things applications
// reach for first, against castd dev and against redis-server, and
// compares what each saw: a rate limiter's INCR and EXPIRE, a lock taken
// with SET NX PX and released by its holder, a bank transfer with WATCH
// and retries under contention, TxPipeline blocks, and SCAN and KEYS. redis-server is
// skipped, saying so, where it is not installed; castd dev's run still
// checks every result against what the program must see.
func TestAppAgainstRedis(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	dc := startDev(t, ps)
	castkv := runApp(t, newClient(t, dc.clientAddr))

	addr, ok := redistest.Start(t)
	if !ok {
		t.Logf("redis-server is not installed (apt-get install redis-server): castd dev's results were checked alone")
		return
	}
	redisSaw := runApp(t, newClientWaiting(t, addr, 10*time.Second))
	if !slices.Equal(castkv, redisSaw) {
		t.Errorf("castkv and redis-server saw different results:\ncastkv: %q\nredis:  %q", castkv, redisSaw)
	}
}

// runApp runs the program on c, checks what it must see, and returns what
// it saw, one line per step, for comparing servers.
func runApp(t *testing.T, c *redis.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), manyCommandsTimeout)
	defer cancel()
	var saw []string
	note := func(format string, args ...any) { saw = append(saw, fmt.Sprintf(format, args...)) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.FlushAll(ctx).Err())

	// A rate limiter: INCR a per-window counter and give it a TTL on its
	// first hit, in one transaction.
	for i := range 5 {
		var n *redis.IntCmd
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			n = p.Incr(ctx, "rate:{user1}")
			p.ExpireNX(ctx, "rate:{user1}", time.Minute)
			return nil
		})
		must(err)
		note("hit %d: count %d allowed %t", i, n.Val(), n.Val() <= 3)
	}
	ttl, err := c.TTL(ctx, "rate:{user1}").Result()
	must(err)
	note("rate window ttl in (50s, 60s]: %t", ttl > 50*time.Second && ttl <= time.Minute)

	// A lock: SET NX PX, a second taker refused, released only by its
	// holder (GET then DEL under WATCH), and free again once it expires.
	ok, err := c.SetNX(ctx, "lock:{job}", "worker-1", 30*time.Second).Result()
	must(err)
	note("worker-1 takes the lock: %t", ok)
	ok, err = c.SetNX(ctx, "lock:{job}", "worker-2", 30*time.Second).Result()
	must(err)
	note("worker-2 takes the lock: %t", ok)
	release := func(owner string) bool {
		released := false
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			holder, err := tx.Get(ctx, "lock:{job}").Result()
			if err != nil || holder != owner {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, "lock:{job}")
				return nil
			})
			released = err == nil
			return err
		}, "lock:{job}")
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Errorf("release by %s: %v", owner, err)
		}
		return released
	}
	note("worker-2 releases: %t", release("worker-2"))
	note("worker-1 releases: %t", release("worker-1"))
	ok, err = c.SetNX(ctx, "lock:{job}", "worker-2", 200*time.Millisecond).Result()
	must(err)
	note("worker-2 takes the free lock for 200 ms: %t", ok)
	time.Sleep(400 * time.Millisecond)
	ok, err = c.SetNX(ctx, "lock:{job}", "worker-3", 30*time.Second).Result()
	must(err)
	note("worker-3 takes it after it expired: %t", ok)

	// Transfers between two accounts by optimistic transactions: 4 clients
	// move 1 at a time, 25 times each, retrying when a watched key changed.
	// No transfer is lost or doubled, and the total stays.
	must(c.MSet(ctx, "acct:{bank}a", 1000, "acct:{bank}b", 0).Err())
	var wg sync.WaitGroup
	var retries sync.Map
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				for attempt := 0; ; attempt++ {
					err := c.Watch(ctx, func(tx *redis.Tx) error {
						vals, err := tx.MGet(ctx, "acct:{bank}a", "acct:{bank}b").Result()
						if err != nil {
							return err
						}
						a, _ := strconv.Atoi(vals[0].(string))
						b, _ := strconv.Atoi(vals[1].(string))
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "acct:{bank}a", a-1, 0)
							p.Set(ctx, "acct:{bank}b", b+1, 0)
							return nil
						})
						return err
					}, "acct:{bank}a", "acct:{bank}b")
					if err == nil {
						break
					}
					if !errors.Is(err, redis.TxFailedErr) || attempt > 1000 {
						t.Errorf("transfer by client %d: %v", w, err)
						return
					}
					retries.Store(w, attempt+1)
				}
			}
		}()
	}
	wg.Wait()
	vals, err := c.MGet(ctx, "acct:{bank}a", "acct:{bank}b").Result()
	must(err)
	note("after 100 transfers: a=%v b=%v", vals[0], vals[1])

	// Counters bumped by many clients at once: none lost.
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := c.Incr(ctx, "hits").Err(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	hits, err := c.Get(ctx, "hits").Result()
	must(err)
	note("hits after 8x50 INCR: %s", hits)

	// A TxPipeline block of reads and writes of one tag, and one that
	// fails whole when a watched key changed under it.
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "cart:{u2}", "3", time.Hour)
		p.IncrBy(ctx, "cart:{u2}", 2)
		p.Get(ctx, "cart:{u2}")
		p.TTL(ctx, "cart:{u2}")
		return nil
	})
	must(err)
	var parts []string
	for _, cmd := range cmds {
		switch v := cmd.(type) {
		case *redis.DurationCmd:
			parts = append(parts, strconv.FormatBool(v.Val() > 59*time.Minute))
		case *redis.StatusCmd:
			parts = append(parts, v.Val())
		case *redis.IntCmd:
			parts = append(parts, strconv.FormatInt(v.Val(), 10))
		case *redis.StringCmd:
			parts = append(parts, v.Val())
		default:
			parts = append(parts, fmt.Sprintf("%T", cmd))
		}
	}
	note("block: %s", strings.Join(parts, " | "))
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		if err := c.Set(ctx, "cart:{u2}", "0", 0).Err(); err != nil { // another client, meanwhile
			return err
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "cart:{u2}")
			return nil
		})
		return err
	}, "cart:{u2}")
	note("a block whose watched key changed: %v", err)
	cart, err := c.Get(ctx, "cart:{u2}").Result()
	must(err)
	note("cart after it: %s", cart)

	// SCAN, a few keys a call, with a pattern: every key, once or more.
	for i := range 40 {
		must(c.Set(ctx, fmt.Sprintf("item:%02d", i), i, 0).Err())
	}
	found := map[string]bool{}
	var cursor uint64
	for calls := 0; ; calls++ {
		keys, next, err := c.Scan(ctx, cursor, "item:*", 3).Result()
		must(err)
		for _, k := range keys {
			found[k] = true
		}
		if cursor = next; cursor == 0 || calls > 10000 {
			break
		}
	}
	var items []string
	for k := range found {
		items = append(items, k)
	}
	slices.Sort(items)
	note("scan item:* finds %d keys, item:00 to %s", len(items), items[len(items)-1])
	all, err := c.Keys(ctx, "item:1?").Result()
	must(err)
	slices.Sort(all)
	note("keys item:1?: %s", strings.Join(all, " "))

	want := []string{
		"hit 0: count 1 allowed true", "hit 1: count 2 allowed true", "hit 2: count 3 allowed true",
		"hit 3: count 4 allowed false", "hit 4: count 5 allowed false", "rate window ttl in (50s, 60s]: true",
		"worker-1 takes the lock: true", "worker-2 takes the lock: false", "worker-2 releases: false", "worker-1 releases: true",
		"worker-2 takes the free lock for 200 ms: true", "worker-3 takes it after it expired: true",
		"after 100 transfers: a=900 b=100", "hits after 8x50 INCR: 400",
		"block: OK | 5 | 5 | true", "a block whose watched key changed: redis: transaction failed", "cart after it: 0",
		"scan item:* finds 40 keys, item:00 to item:39",
		"keys item:1?: item:10 item:11 item:12 item:13 item:14 item:15 item:16 item:17 item:18 item:19",
	}
	if !slices.Equal(saw, want) {
		t.Errorf("the program saw:\n%s\nwant:\n%s", strings.Join(saw, "\n"), strings.Join(want, "\n"))
	}
	n := 0
	retries.Range(func(_, v any) bool { n += v.(int); return true })
	t.Logf("%s: transfers retried after a conflict at least %d times", c.Options().Addr, n)
	return saw
}

// TestDevScanAcrossSplits scans castd dev a few keys a call while writes
// make its shards split under the scan: every key present for the whole
// scan is returned, as Redis promises, though the slots the cursor is in
// moved to new shards between calls.
func TestDevScanAcrossSplits(t *testing.T) {
	ps := newProcs(t, workDir(t))
	dc := startDev(t, ps, "--shards", "2", "--split-bytes", "8192", "--max-shards", "6")
	c := newClient(t, dc.clientAddr)
	ctx, cancel := context.WithTimeout(context.Background(), manyCommandsTimeout)
	defer cancel()
	value := strings.Repeat("v", 40)
	const stable = 300
	for i := range stable {
		if err := c.Set(ctx, fmt.Sprintf("stable:%04d", i), value, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	shardsBefore, err := c.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() { // more keys meanwhile, so the shards split under the scan
		for i := 0; i < 2500; i++ {
			select {
			case <-done:
				writerDone <- nil
				return
			default:
			}
			if err := c.Set(ctx, fmt.Sprintf("new:%05d", i), value, 0).Err(); err != nil {
				writerDone <- err
				return
			}
		}
		<-done
		writerDone <- nil
	}()
	found := map[string]bool{}
	var cursor uint64
	calls := 0
	began := time.Now()
	var slowest time.Duration
	for ; ; calls++ {
		at := time.Now()
		keys, next, err := c.Scan(ctx, cursor, "stable:*", 20).Result()
		if err != nil {
			t.Fatalf("SCAN %d: %v", cursor, err)
		}
		slowest = max(slowest, time.Since(at))
		for _, k := range keys {
			found[k] = true
		}
		if cursor = next; cursor == 0 {
			break
		}
		if calls == 1 {
			// Let the writes split a shard before the scan goes on.
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
				if shards, err := c.ClusterShards(ctx).Result(); err == nil && len(shards) > len(shardsBefore) || time.Now().After(deadline) {
					break
				}
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	close(done)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	shardsAfter, err := c.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for i := range stable {
		if !found[fmt.Sprintf("stable:%04d", i)] {
			missing++
		}
	}
	t.Logf("%d SCAN calls in %v, the slowest %v; shards %d before, %d after", calls, time.Since(began).Round(time.Millisecond), slowest.Round(time.Millisecond), len(shardsBefore), len(shardsAfter))
	if missing > 0 {
		t.Errorf("%d of %d keys present for the whole scan were not returned", missing, stable)
	}
	if len(shardsAfter) <= len(shardsBefore) {
		t.Errorf("no shard split during the scan (%d shards before, %d after): the test did not test what it says", len(shardsBefore), len(shardsAfter))
	}
}

// TestDevBlocksAcrossShards: on castd dev with four shards, MULTI blocks
// whose keys span shards run as one transaction. A TxPipeline of INCR, GET,
// SET EX and INCRBY over keys of several shards answers in order; four
// clients make 400 transfers between 16 accounts spread over the shards with
// MULTI (DECRBY one, INCRBY another, no WATCH) while a reader sums every
// account with MGET (one snapshot across shards), and the sum never
// changes; WATCH over keys of several shards makes EXEC nil when one of
// them changed; a command inside a block whose own keys span shards is
// refused CROSSSLOT and nothing of the block runs.
func TestDevBlocksAcrossShards(t *testing.T) {
	ps := newProcs(t, workDir(t))
	dc := startDev(t, ps, "--shards", "4")
	c := newClient(t, dc.clientAddr)
	ctx, cancel := context.WithTimeout(context.Background(), manyCommandsTimeout)
	defer cancel()
	if shards, err := c.ClusterShards(ctx).Result(); err != nil || len(shards) < 2 {
		t.Fatalf("want several shards, got %d (%v)", len(shards), err)
	}

	c.Set(ctx, "{b}n", "41", 0)
	c.Set(ctx, "{c}read", "seen", 0)
	var incr *redis.IntCmd
	var get *redis.StringCmd
	var incrby *redis.IntCmd
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, "{b}n")
		get = p.Get(ctx, "{c}read")
		p.Set(ctx, "{d}ttl", "v", 100*time.Second)
		incrby = p.IncrBy(ctx, "{e}m", 5)
		return nil
	}); err != nil {
		t.Fatalf("a block across shards: %v", err)
	}
	if incr.Val() != 42 || get.Val() != "seen" || incrby.Val() != 5 {
		t.Fatalf("the block answered INCR %d, GET %q, INCRBY %d; want 42, seen, 5", incr.Val(), get.Val(), incrby.Val())
	}
	if ttl := c.PTTL(ctx, "{d}ttl").Val(); ttl <= 0 || ttl > 100*time.Second {
		t.Errorf("SET EX inside the block: PTTL %v, want up to 100 s", ttl)
	}

	const accounts, each, transfers = 16, 100, 400
	keys := make([]string, accounts)
	for i := range keys {
		keys[i] = fmt.Sprintf("acct:{%d}", i)
		if err := c.Set(ctx, keys[i], each, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range transfers / 4 {
				from, to := keys[(w*7+i)%accounts], keys[(w*3+i*5+1)%accounts]
				if from == to {
					continue
				}
				if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.DecrBy(ctx, from, int64(1+i%7))
					p.IncrBy(ctx, to, int64(1+i%7))
					return nil
				}); err != nil {
					errs <- fmt.Errorf("transfer %s -> %s: %w", from, to, err)
					return
				}
			}
		}()
	}
	sums := 0
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			vals, err := c.MGet(ctx, keys...).Result()
			if err != nil {
				errs <- fmt.Errorf("MGET: %w", err)
				return
			}
			total := 0
			for _, v := range vals {
				n, _ := strconv.Atoi(fmt.Sprint(v))
				total += n
			}
			if total != accounts*each {
				errs <- fmt.Errorf("MGET saw a sum of %d, want %d: part of a transfer (%v)", total, accounts*each, vals)
				return
			}
			sums++
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d transfers across shards, %d sums read meanwhile", transfers, sums)

	// WATCH across shards: the block runs when no watched key changed,
	// and answers nil, applying nothing, when one did.
	shardOf := func(key string) int {
		slot := c.ClusterKeySlot(ctx, key).Val()
		shards := c.ClusterShards(ctx).Val()
		for i, sh := range shards {
			for _, r := range sh.Slots {
				if slot >= r.Start && slot <= r.End {
					return i
				}
			}
		}
		t.Fatalf("no shard holds slot %d of %q", slot, key)
		return -1
	}
	if shardOf("{b}n") == shardOf("{c}read") || shardOf("{b}n") == shardOf("{e}m") {
		t.Fatal("the test's keys {b}n, {c}read and {e}m must be in different shards")
	}
	other := newClient(t, dc.clientAddr)
	for _, changed := range []bool{false, true} {
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			n, err := tx.Get(ctx, "{b}n").Int()
			if err != nil {
				return err
			}
			if changed {
				other.Set(ctx, "{c}read", "changed", 0)
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "{b}n", n+1, 0)
				p.Set(ctx, "{e}m", "watched", 0)
				return nil
			})
			return err
		}, "{b}n", "{c}read")
		switch {
		case !changed && err != nil:
			t.Fatalf("WATCH across shards, nothing changed: %v", err)
		case changed && !errors.Is(err, redis.TxFailedErr):
			t.Fatalf("WATCH across shards, a watched key changed: want the transaction to fail, got %v", err)
		}
	}
	if n, m := c.Get(ctx, "{b}n").Val(), c.Get(ctx, "{e}m").Val(); n != "43" || m != "watched" {
		t.Fatalf("after one WATCH block ran and one was refused: n=%s m=%s, want 43 and watched", n, m)
	}

	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "{f}untouched") // not a block of plain writes, which would run as one MSET
		p.MSet(ctx, "{g}a", "1", "{h}b", "2")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("MSET across shards inside a block: want CROSSSLOT, got %v", err)
	}
	if n := c.Exists(ctx, "{f}untouched", "{g}a", "{h}b").Val(); n != 0 {
		t.Errorf("a refused block ran %d of its writes", n)
	}
}
