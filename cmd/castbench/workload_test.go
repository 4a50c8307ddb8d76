package main

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestSelectRows(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"", rowNames(allRows)},
		{"all", rowNames(allRows)},
		{"get", "get/p1, get/p16"},
		{"mset/p16, SET", "set/p1, set/p16, mset/p16"}, // table order, case-insensitive
		{"set/p1,set", "set/p1, set/p16"},
	} {
		rows, err := selectRows(c.spec)
		if err != nil || rowNames(rows) != c.want {
			t.Errorf("selectRows(%q) = %s, %v; want %s", c.spec, rowNames(rows), err, c.want)
		}
	}
	if _, err := selectRows("set/p8"); err == nil {
		t.Error("selectRows(set/p8) accepted a row that does not exist")
	}
}

func TestAppendKey(t *testing.T) {
	for n, want := range map[int]string{0: "key:000000000000", 99999: "key:000000099999"} {
		if got := string(appendKey(nil, n)); got != want || len(got) != keyBytes {
			t.Errorf("appendKey(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBatchWriterCommands(t *testing.T) {
	for _, c := range []struct {
		cmd   string
		nargs int
	}{{"SET", 3}, {"GET", 2}, {"MSET", 1 + 2*msetKeys}} {
		b := newBatchWriter(c.cmd, 100, 64, 1)
		out := b.append(nil, 5)
		r := bufio.NewReader(bytes.NewReader(out))
		for i := range 5 {
			args, err := readRequest(r)
			if err != nil {
				t.Fatalf("%s command %d: %v", c.cmd, i, err)
			}
			if args[0] != c.cmd || len(args) != c.nargs {
				t.Fatalf("%s command %d = %q", c.cmd, i, args)
			}
			for j := 1; j < len(args); j++ {
				isKey := c.cmd == "GET" || j%2 == 1
				if isKey && (!strings.HasPrefix(args[j], "key:00000000") || len(args[j]) != keyBytes) {
					t.Errorf("%s key %q not in key:000000000000..key:000000000099", c.cmd, args[j])
				}
				if !isKey && len(args[j]) != 64 {
					t.Errorf("%s value of %d bytes, want 64", c.cmd, len(args[j]))
				}
			}
		}
		if r.Buffered() != 0 {
			t.Errorf("%s: %d bytes after 5 commands", c.cmd, r.Buffered())
		}
	}
}

func testWorkload() workload {
	return workload{conns: 4, keyspace: 50, valueBytes: 8, timeout: 10 * time.Second}
}

func TestRunRowCountsEveryRequest(t *testing.T) {
	s := startFake(t, 0)
	w := testWorkload()
	w.requests = 1000
	for _, r := range allRows {
		res, err := runRow(context.Background(), s.addr, r, w)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if res.ops != 1000 || res.hist.count() != 1000 || res.total != 1000 || res.errors != 0 {
			t.Errorf("%s: ops %d, latencies %d, total %d, errors %d; want 1000, 1000, 1000, 0",
				r.name, res.ops, res.hist.count(), res.total, res.errors)
		}
		if res.elapsed <= 0 || res.opsPerSec() <= 0 {
			t.Errorf("%s: elapsed %v, %v ops/s", r.name, res.elapsed, res.opsPerSec())
		}
	}
}

func TestRunRowCountsErrorsApart(t *testing.T) {
	s := startFake(t, 10)
	w := testWorkload()
	w.requests = 2000
	res, err := runRow(context.Background(), s.addr, row{"set/p16", "SET", 16}, w)
	if err != nil {
		t.Fatal(err)
	}
	// The PINGs of dialAll are commands too: about one in ten of the rest fail.
	if res.errors < 150 || res.errors > 250 || res.firstError != "TRYAGAIN fake" {
		t.Errorf("errors %d (first %q), want about 200 TRYAGAIN", res.errors, res.firstError)
	}
	if res.ops+res.errors != 2000 || res.hist.count() != uint64(res.ops) {
		t.Errorf("ops %d + errors %d != 2000 requests, or %d latencies", res.ops, res.errors, res.hist.count())
	}
}

func TestRunRowForADuration(t *testing.T) {
	s := startFake(t, 0)
	w := testWorkload()
	w.warmup, w.duration = 50*time.Millisecond, 100*time.Millisecond
	res, err := runRow(context.Background(), s.addr, row{"get/p16", "GET", 16}, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.ops == 0 || res.total < res.ops {
		t.Errorf("ops %d of %d replies: want some measured, warmup not measured", res.ops, res.total)
	}
	if res.nulls != res.total {
		t.Errorf("%d null replies of %d GETs on an empty server", res.nulls, res.total)
	}
}

func TestPrefillWritesEveryKey(t *testing.T) {
	s := startFake(t, 0)
	w := testWorkload()
	w.keyspace = 1234
	if err := prefill(context.Background(), s.addr, w); err != nil {
		t.Fatal(err)
	}
	if len(s.data) != 1234 {
		t.Fatalf("%d keys after prefill, want 1234", len(s.data))
	}
	for k, n := range s.sets {
		if n != 1 {
			t.Errorf("%s written %d times", k, n)
		}
	}
	res, err := runRow(context.Background(), s.addr, row{"get/p1", "GET", 1}, workload{conns: 2, keyspace: 1234, requests: 500, timeout: 10 * time.Second})
	if err != nil || res.nulls != 0 {
		t.Errorf("GETs after prefill: %d nulls, %v", res.nulls, err)
	}
}

func TestRunRowFailsWhenTheServerIsGone(t *testing.T) {
	if _, err := runRow(context.Background(), "127.0.0.1:1", allRows[0], testWorkload()); err == nil {
		t.Error("runRow on a closed port succeeded")
	}
}
