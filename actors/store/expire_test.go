package store

import (
	"fmt"
	"math"
	"testing"

	"castkv/actors/wire"
)

// TestExpiringVersions: a version keeps its expiry through the store, an
// expiry is positive, and the walk for expired keys finds exactly the keys
// whose newest version had expired at its timestamp, a bounded number of
// keys at a time, resuming where it stopped.
func TestExpiringVersions(t *testing.T) {
	s := openMem(t)
	ms := func(n int64) uint64 { return uint64(n) << wire.TSLogicalBits }
	b := s.NewBatch()
	for i := range 10 {
		expire := int64(0)
		if i%2 == 0 {
			expire = 1000 + int64(i) // k0 at 1000, k2 at 1002, ...
		}
		b.PutVersion(1, fmt.Appendf(nil, "k%d", i), 5, fmt.Appendf(nil, "v%d", i), expire)
	}
	b.PutVersion(2, []byte("k0"), 5, []byte("other shard"), 1)
	commit(t, b, false)

	v, err := s.GetVersion(1, []byte("k4"), math.MaxUint64)
	if err != nil || !v.Found || string(v.Value) != "v4" || v.ExpireMs != 1004 || v.TS != 5 {
		t.Fatalf("k4: %+v %v, want v4 at ts 5 expiring at 1004", v, err)
	}
	if v, err := s.GetVersion(1, []byte("k3"), math.MaxUint64); err != nil || v.ExpireMs != 0 || string(v.Value) != "v3" {
		t.Fatalf("k3: %+v %v, want v3 with no expiry", v, err)
	}
	if n, err := s.Count(1, ms(1003)); err != nil || n != 8 {
		t.Errorf("count at 1003 ms: %d %v, want 8 (k0 and k2 expired)", n, err)
	}

	walk := func(limit int, at uint64) (found []string) {
		var after []byte
		for range 100 {
			expired, _, next, err := s.ExpiredKeys(1, after, limit, at, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range expired {
				if k.TS != 5 || k.Bytes != 2 {
					t.Errorf("expired %q: ts %d, %d bytes; want 5 and 2", k.Key, k.TS, k.Bytes)
				}
				found = append(found, string(k.Key))
			}
			if next == nil {
				return found
			}
			after = next
		}
		t.Fatal("the walk did not end")
		return nil
	}
	for _, tc := range []struct {
		limit int
		at    uint64
		want  string
	}{
		{3, ms(999), "[]"},
		{3, ms(1004), "[k0 k2 k4]"},
		{1, ms(1004) + 7, "[k0 k2 k4]"},
		{100, ms(2000), "[k0 k2 k4 k6 k8]"},
	} {
		if got := fmt.Sprint(walk(tc.limit, tc.at)); got != tc.want {
			t.Errorf("walk %d at a time at %d ms: %s, want %s", tc.limit, tc.at>>wire.TSLogicalBits, got, tc.want)
		}
	}
	if expired, expiring, _, err := s.ExpiredKeys(1, nil, 100, ms(2000), 0); err != nil || expiring != 5 || len(expired) != 5 {
		t.Errorf("walk of every key: %d expired, %d with an expiry, %v; want 5 and 5", len(expired), expiring, err)
	}
	if expired, _, _, err := s.ExpiredKeys(1, nil, 100, ms(2000), 6); err != nil || len(expired) != 0 {
		t.Errorf("walk below the flush marker found %d keys (%v), want none", len(expired), err)
	}

	bad := s.NewBatch()
	bad.PutVersion(1, []byte("x"), 5, nil, -1)
	if err := bad.Commit(false); err == nil {
		t.Error("a negative expiry was written")
	}
}
