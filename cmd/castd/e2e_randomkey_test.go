package main

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestDevRandomKey: RANDOMKEY against castd dev of three shards, through
// SCAN's cursors: nil when the keyspace is empty, else only keys that
// exist, and not always the same one.
func TestDevRandomKey(t *testing.T) {
	ps := newProcs(t, workDir(t))
	dc := startDev(t, ps, "--shards", "3")
	c := newClient(t, dc.clientAddr)
	ctx, cancel := context.WithTimeout(context.Background(), manyCommandsTimeout)
	defer cancel()

	for range 5 {
		if key, err := c.RandomKey(ctx).Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("RANDOMKEY of an empty keyspace = %q, %v; want nil", key, err)
		}
	}
	want := map[string]bool{}
	for i := range 50 {
		k := "key:" + strconv.Itoa(i)
		want[k] = true
		expect(t, c, "OK", "SET", k, "v")
	}
	seen := map[string]int{}
	for range 200 {
		key, err := c.RandomKey(ctx).Result()
		if err != nil || !want[key] {
			t.Fatalf("RANDOMKEY = %q, %v; want one of the 50 keys", key, err)
		}
		seen[key]++
	}
	if len(seen) < 2 {
		t.Errorf("200 RANDOMKEYs of 50 keys returned %d distinct keys: %v", len(seen), seen)
	}
	t.Logf("200 RANDOMKEYs returned %d distinct keys of 50", len(seen))
}
