package net

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// respScanStore is respTestStore with SCAN as the cluster answers it
// (store.ScanFrom): keys in cursor order, a call scanning the shard of its
// cursor's slot from there, up to COUNT keys, else to the shard's end.
// The slots are cut in shards equal parts.
type respScanStore struct {
	*respTestStore
	shards uint32
	scans  atomic.Int64
	fail   *wire.Reply // if set, SCAN's reply
	mu     sync.Mutex
}

func (st *respScanStore) Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	if command.Name(args) != "scan" {
		st.respTestStore.Send(ctx, args, done)
		return
	}
	st.scans.Add(1)
	if st.fail != nil {
		done(st.fail, nil)
		return
	}
	cursor, _ := strconv.ParseUint(string(args[1]), 10, 64)
	count, _ := strconv.Atoi(string(args[3]))
	slot, _ := wire.SplitCursor(cursor)
	width := wire.Slots / st.shards
	end := (slot/width + 1) * width

	st.respTestStore.mu.Lock()
	var places []uint64
	byPlace := map[uint64][]byte{}
	for k := range st.m {
		p := wire.ScanCursor(uint32(wire.Slot([]byte(k))), wire.ScanPosition([]byte(k)))
		places = append(places, p)
		byPlace[p] = []byte(k)
	}
	st.respTestStore.mu.Unlock()
	slices.SortFunc(places, cmp.Compare)

	next := wire.ScanCursor(end, 0) // 0 past the last slot
	var keys [][]byte
	for _, p := range places {
		if slot, _ := wire.SplitCursor(p); p < cursor || slot >= end {
			continue
		}
		if len(keys) == count {
			next = p
			break
		}
		keys = append(keys, byPlace[p])
	}
	done(command.ScanReply(next, keys), nil)
}

func TestRESPRandomKey(t *testing.T) {
	store := &respScanStore{respTestStore: newRESPTestStore(), shards: 4}
	s, _, _ := respStart(t, RESPConfig{Gateway: store})
	c := respDial(t, s.Addr())

	// Empty: nil, after one walk through every shard and back.
	for range 20 {
		store.scans.Store(0)
		c.expect(respArray("RANDOMKEY"), "$-1\r\n")
		if n := store.scans.Load(); n < 4 || n > 6 {
			t.Errorf("RANDOMKEY of an empty keyspace of 4 shards took %d SCANs, want 4 to 6", n)
		}
	}
	c.expect(respArray("RANDOMKEY", "x"), "-ERR wrong number of arguments for 'randomkey' command\r\n")

	// One key: that key, wherever the walk starts. The SET before it in
	// the pipeline is seen.
	c.send(respArray("SET", "only", "1") + respArray("RANDOMKEY"))
	if got := c.reply() + c.reply(); got != "+OK\r\n"+respBulk("only") {
		t.Errorf("SET then RANDOMKEY: %q", got)
	}
	for range 20 {
		c.expect(respArray("RANDOMKEY"), respBulk("only"))
	}
	c.expect(respArray("DEL", "only"), ":1\r\n")

	// 50 keys: only those, and more than one of them.
	want := map[string]bool{}
	for i := range 50 {
		k := "key:" + strconv.Itoa(i)
		want[k] = true
		c.expect(respArray("SET", k, "v"), "+OK\r\n")
	}
	seen := map[string]int{}
	for range 200 {
		got := c.roundTrip(respArray("RANDOMKEY"))
		_, key, _ := strings.Cut(strings.TrimSuffix(got, "\r\n"), "\r\n")
		if !want[key] {
			t.Fatalf("RANDOMKEY = %q, not a key that exists", got)
		}
		seen[key]++
	}
	if len(seen) < 10 {
		t.Errorf("200 RANDOMKEYs of 50 keys returned %d distinct keys: %v", len(seen), seen)
	}

	// In MULTI it is refused, as the other commands the cluster cannot
	// run in a transaction.
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("RANDOMKEY"), "-ERR castkv cannot run RANDOMKEY inside MULTI; the transaction will be discarded\r\n")
	c.expect(respArray("DISCARD"), "+OK\r\n")

	// A SCAN's error is RANDOMKEY's.
	store.fail = command.Error("TRYAGAIN the shard is moving")
	c.expect(respArray("RANDOMKEY"), "-TRYAGAIN the shard is moving\r\n")
}

// TestRESPRandomKeyBounded: a walk that never gets back to its start
// stops after respRandomKeyMaxScans SCANs with an error.
func TestRESPRandomKeyBounded(t *testing.T) {
	var scans atomic.Int64
	gw := GatewayFunc(func(_ context.Context, args [][]byte) (*wire.Reply, error) {
		scans.Add(1)
		cursor, _ := strconv.ParseUint(string(args[1]), 10, 64)
		return command.ScanReply(cursor+1, nil), nil // one place at a time, no keys
	})
	s, _, _ := respStart(t, RESPConfig{Gateway: gw})
	c := respDial(t, s.Addr())
	if got := c.roundTrip(respArray("RANDOMKEY")); !strings.HasPrefix(got, "-TRYAGAIN RANDOMKEY found no key in 2048 SCAN steps") {
		t.Errorf("RANDOMKEY of an endless walk: %q", got)
	}
	if n := scans.Load(); n != respRandomKeyMaxScans {
		t.Errorf("RANDOMKEY made %d SCANs, want %d", n, respRandomKeyMaxScans)
	}
}
