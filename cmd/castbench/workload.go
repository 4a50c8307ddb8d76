package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// row is one line of the throughput table: a command at a pipeline depth.
type row struct {
	name     string // "set/p16"
	cmd      string // SET, GET, MSET or MSETTAG
	pipeline int
}

// msetKeys is how many keys one MSET writes, as in redis-benchmark.
const msetKeys = 10

var allRows = []row{
	{"set/p1", "SET", 1}, {"set/p16", "SET", 16},
	{"get/p1", "GET", 1}, {"get/p16", "GET", 16},
	{"mset/p1", "MSET", 1}, {"mset/p16", "MSET", 16},
	// MSETTAG: an MSET whose keys share one {hash tag}, so one shard holds
	// them all; MSET's random keys span every shard of a cluster of
	// several (a transaction across shards), so the two rows price one.
	{"msettag/p1", "MSETTAG", 1}, {"msettag/p16", "MSETTAG", 16},
}

// selectRows picks rows by a comma-separated list of row names ("set/p16")
// or commands ("get": both pipeline depths), in the table's order.
func selectRows(spec string) ([]row, error) {
	if strings.TrimSpace(spec) == "" || spec == "all" {
		return allRows, nil
	}
	want := map[string]bool{}
	for _, s := range strings.Split(spec, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		known := false
		for _, r := range allRows {
			if r.name == s || strings.ToLower(r.cmd) == s {
				want[r.name], known = true, true
			}
		}
		if !known {
			return nil, fmt.Errorf("unknown row %q (rows: %s; or set, get, mset, msettag)", s, rowNames(allRows))
		}
	}
	var out []row
	for _, r := range allRows {
		if want[r.name] {
			out = append(out, r)
		}
	}
	return out, nil
}

func rowNames(rows []row) string {
	var names []string
	for _, r := range rows {
		names = append(names, r.name)
	}
	return strings.Join(names, ", ")
}

// workload is what every row shares.
type workload struct {
	conns      int
	keyspace   int // keys are key:000000000000 .. key:(keyspace-1)
	valueBytes int
	warmup     time.Duration // run but not measured, before each row
	duration   time.Duration // measured part of a row, unless requests > 0
	requests   int64         // measured commands per row; 0: run for duration
	timeout    time.Duration // one batch's replies, then the row fails
}

// rowResult is one row against one server.
type rowResult struct {
	ops        int64         // measured commands answered without an error
	elapsed    time.Duration // first measured send to last measured reply
	hist       *histogram    // latency of the measured commands
	errors     int64         // error replies (all phases)
	firstError string
	nulls      int64 // null replies (a GET of a missing key)
	total      int64 // every reply, warmup included: what the fsyncs divide by
}

func (r rowResult) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// keyBytes is the length of every key the throughput rows use:
// "key:" and 12 digits, redis-benchmark's key:__rand_int__.
const keyBytes = 16

// appendKey appends key:NNNNNNNNNNNN for n.
func appendKey(dst []byte, n int) []byte {
	dst = append(dst, "key:"...)
	var digits [12]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, digits[:]...)
}

// appendTaggedKey appends key i of hash tag tag, keyBytes long:
// "k{00001234}:0007". The keys of one tag share a slot.
func appendTaggedKey(dst []byte, tag, i int) []byte {
	return fmt.Appendf(dst, "k{%08d}:%04d", tag%100000000, i%10000)
}

// fillValue overwrites v with random letters: values that do not compress
// to nothing, so the store does the work a real value costs.
func fillValue(rng *rand.Rand, v []byte) {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := 0; i < len(v); {
		x := rng.Uint64()
		for j := 0; j < 8 && i < len(v); j++ {
			v[i] = letters[(x&63)%uint64(len(letters))]
			x >>= 8
			i++
		}
	}
}

// batchWriter builds one row's commands with random keys.
type batchWriter struct {
	cmd      string
	keyspace int
	rng      *rand.Rand
	key      []byte
	value    []byte
}

func newBatchWriter(cmd string, keyspace, valueBytes int, seed uint64) *batchWriter {
	return &batchWriter{
		cmd: cmd, keyspace: keyspace,
		rng:   rand.New(rand.NewPCG(seed, 0x63617374)),
		key:   make([]byte, 0, keyBytes),
		value: make([]byte, valueBytes),
	}
}

// append appends n commands to dst.
func (b *batchWriter) append(dst []byte, n int) []byte {
	for range n {
		switch b.cmd {
		case "SET":
			dst = appendArrayHeader(dst, 3)
			dst = appendBulk(dst, []byte("SET"))
			dst = b.appendKeyValue(dst)
		case "GET":
			dst = appendArrayHeader(dst, 2)
			dst = appendBulk(dst, []byte("GET"))
			b.key = appendKey(b.key[:0], b.rng.IntN(b.keyspace))
			dst = appendBulk(dst, b.key)
		case "MSET":
			dst = appendArrayHeader(dst, 1+2*msetKeys)
			dst = appendBulk(dst, []byte("MSET"))
			for range msetKeys {
				dst = b.appendKeyValue(dst)
			}
		case "MSETTAG":
			dst = appendArrayHeader(dst, 1+2*msetKeys)
			dst = appendBulk(dst, []byte("MSET"))
			tag := b.rng.IntN(max(1, b.keyspace/msetKeys))
			for i := range msetKeys {
				b.key = appendTaggedKey(b.key[:0], tag, i)
				fillValue(b.rng, b.value)
				dst = appendBulk(appendBulk(dst, b.key), b.value)
			}
		default:
			panic("castbench: no command " + b.cmd)
		}
	}
	return dst
}

func (b *batchWriter) appendKeyValue(dst []byte) []byte {
	b.key = appendKey(b.key[:0], b.rng.IntN(b.keyspace))
	fillValue(b.rng, b.value)
	return appendBulk(appendBulk(dst, b.key), b.value)
}

// dialAll opens n connections to addr and checks each with a PING.
func dialAll(ctx context.Context, addr string, n int, timeout time.Duration) ([]*client, error) {
	var cs []*client
	for i := range n {
		c, err := dial(ctx, addr, timeout)
		if err == nil {
			err = c.doOK(timeout, "PING")
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			closeAll(cs)
			return nil, fmt.Errorf("connection %d of %d to %s: %w", i+1, n, addr, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		c.Close()
	}
}

// runRow drives addr with r for w's warmup and then its duration (or
// request count), on w.conns connections that each keep one batch of
// r.pipeline commands in flight, like redis-benchmark -P.
//
// A command's latency is from the Write of its batch to the arrival of its
// reply, so with pipelining it includes the commands queued ahead of it
// (redis-benchmark measures the same way). A command is measured when its
// batch was sent after the warmup; ops/s is the measured commands over the
// time from the end of the warmup to the last measured reply.
func runRow(ctx context.Context, addr string, r row, w workload) (rowResult, error) {
	conns, err := dialAll(ctx, addr, w.conns, w.timeout)
	if err != nil {
		return rowResult{}, err
	}
	defer closeAll(conns)

	start := time.Now()
	measureFrom := start.Add(w.warmup)
	stopSending := measureFrom.Add(w.duration)
	var claimed atomic.Int64 // measured commands handed out, with requests > 0

	type workerResult struct {
		rowResult
		lastReply time.Time
		err       error
	}
	results := make([]workerResult, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			res.hist = newHistogram()
			bw := newBatchWriter(r.cmd, w.keyspace, w.valueBytes, uint64(i)+1)
			var out []byte
			for ctx.Err() == nil {
				now := time.Now()
				measured := !now.Before(measureFrom)
				n := r.pipeline
				if measured {
					if w.requests <= 0 {
						if !now.Before(stopSending) {
							break
						}
					} else {
						from := claimed.Add(int64(n)) - int64(n)
						if from >= w.requests {
							break
						}
						n = int(min(int64(n), w.requests-from))
					}
				}
				out = bw.append(out[:0], n)
				c.conn.SetDeadline(time.Now().Add(w.timeout))
				if err := c.send(out); err != nil {
					res.err = err
					return
				}
				sent := time.Now()
				for range n {
					rep, err := c.rr.read()
					if err != nil {
						res.err = fmt.Errorf("reading a %s reply: %w", r.cmd, err)
						return
					}
					now := time.Now()
					res.total++
					switch {
					case rep.isError():
						res.errors++
						if res.firstError == "" {
							res.firstError = string(rep.str)
						}
						continue
					case rep.isNull():
						res.nulls++
					}
					if measured {
						res.ops++
						res.hist.record(now.Sub(sent))
						res.lastReply = now
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return rowResult{}, err
	}

	out := rowResult{hist: newHistogram()}
	var last time.Time
	var errs []error
	for _, res := range results {
		if res.err != nil {
			errs = append(errs, res.err)
		}
		out.ops += res.ops
		out.errors += res.errors
		out.nulls += res.nulls
		out.total += res.total
		if out.firstError == "" {
			out.firstError = res.firstError
		}
		out.hist.merge(res.hist)
		if res.lastReply.After(last) {
			last = res.lastReply
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s on %s: %d of %d connections failed: %w", r.name, addr, len(errs), len(conns), errors.Join(errs...))
	}
	if out.ops > 0 {
		out.elapsed = last.Sub(measureFrom)
	}
	return out, nil
}

// prefill writes every key of the keyspace once with pipelined SETs, so
// GET rows read keys that exist. SETs, not MSETs: a cluster of several
// shards refuses an MSET whose keys are in different shards.
func prefill(ctx context.Context, addr string, w workload) error {
	const pipeline = 16
	conns, err := dialAll(ctx, addr, w.conns, w.timeout)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	var next atomic.Int64 // the next key to write
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i)+1, 0x66696c6c))
			value := make([]byte, w.valueBytes)
			var out, key []byte
			for ctx.Err() == nil {
				out = out[:0]
				n := 0
				for batch := 0; batch < pipeline; batch++ {
					from := int(next.Add(msetKeys)) - msetKeys
					if from >= w.keyspace {
						break
					}
					for k := from; k < min(from+msetKeys, w.keyspace); k++ {
						key = appendKey(key[:0], k)
						fillValue(rng, value)
						out = appendArrayHeader(out, 3)
						out = appendBulk(appendBulk(appendBulk(out, []byte("SET")), key), value)
						n++
					}
				}
				if n == 0 {
					return
				}
				c.conn.SetDeadline(time.Now().Add(w.timeout))
				if err := c.send(out); err != nil {
					errs[i] = err
					return
				}
				for range n {
					rep, err := c.rr.read()
					if err == nil && rep.isError() {
						err = fmt.Errorf("SET: %s", rep.str)
					}
					if err != nil {
						errs[i] = err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prefill %d keys on %s: %w", w.keyspace, addr, err)
	}
	return nil
}
