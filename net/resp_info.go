package net

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"castkv/actors/wire"
)

// INFO commandstats, errorstats and latencystats, as Redis 7 keeps them
// (server.c call, afterErrorReply, genRedisInfoString):
//
//   - per command (a container's subcommands each on their own,
//     "client|list"): calls, the time they took, and how many were
//     rejected before running (wrong arity, NOAUTH) or failed as they ran
//     (any other error reply). calls counts the failed ones too, not the
//     rejected ones, as in Redis.
//   - per error code, the first word of an error reply ("ERR",
//     "WRONGTYPE", "TRYAGAIN"), and their total, total_error_replies.
//   - per command, a latency histogram, for p50, p99 and p99.9.
//
// A command's time is from its being read to its reply being ready (the
// cluster's round trip included), what the Prometheus histogram measures
// too; Redis's is its execution alone.
//
// Every set is bounded: commands are those of the COMMAND table (its
// entries are fixed at init) plus one bucket, "unknown", for a name the
// cluster answered and the table does not describe; error codes are at
// most respMaxErrorCodes. An unknown command or subcommand error counts in
// errorstats only, as in Redis, where such a command has no entry.
//
// Connection goroutines record concurrently: counters are atomics, and a
// command's histogram is allocated on its first call.

// respCmdStat is one command's counters.
type respCmdStat struct {
	name  string // full name: "get", "client|list"
	write bool   // a "write" command: CLIENT PAUSE WRITE holds it

	calls, nanos, rejected, failed atomic.Uint64
	hist                           atomic.Pointer[respLatency]
}

// respCmdIndex maps a command name to its place in a respStats's cmds;
// a container's entry maps its subcommands. Built once by
// respIndexCommands from the COMMAND table, read-only after.
type respCmdIndex struct {
	at   int
	subs map[string]int
}

var (
	respCmdIndexes map[string]respCmdIndex
	respStatNames  []string // by index; the last is "unknown"
	respStatWrites []bool
)

// respIndexCommands numbers the COMMAND table's commands and subcommands,
// for respStats; init calls it once the table is complete.
func respIndexCommands() {
	respCmdIndexes = map[string]respCmdIndex{}
	add := func(spec *respSpec) int {
		respStatNames = append(respStatNames, spec.name)
		respStatWrites = append(respStatWrites, slices.Contains(spec.flags, "write"))
		return len(respStatNames) - 1
	}
	for _, spec := range respCommands {
		ix := respCmdIndex{at: add(spec)}
		if len(spec.subs) > 0 {
			ix.subs = map[string]int{}
			for _, sub := range spec.subs {
				_, name, _ := strings.Cut(sub.name, "|")
				ix.subs[name] = add(sub)
			}
		}
		respCmdIndexes[spec.name] = ix
	}
	respStatNames = append(respStatNames, "unknown")
	respStatWrites = append(respStatWrites, false)
}

// respMaxErrorCodes bounds the error codes errorstats tracks apart; the
// errors of any further code count in total_error_replies only.
const respMaxErrorCodes = 128

// respStats is a RESP port's command and error statistics.
type respStats struct {
	cmds []respCmdStat // by respCmdIndex, "unknown" last

	errorReplies atomic.Uint64
	errMu        sync.Mutex
	errors       map[string]uint64 // error code → count; under errMu
}

func newRESPStats() *respStats {
	st := &respStats{cmds: make([]respCmdStat, len(respStatNames)), errors: map[string]uint64{}}
	for i := range st.cmds {
		st.cmds[i].name = respStatNames[i]
		st.cmds[i].write = respStatWrites[i]
	}
	return st
}

// lookup is the counters of the command args names (name, lowercase, is
// its first); a container with a subcommand the table lacks, or a name it
// lacks, gets "unknown".
func (st *respStats) lookup(name string, args [][]byte) *respCmdStat {
	ix, ok := respCmdIndexes[name]
	if !ok {
		return &st.cmds[len(st.cmds)-1]
	}
	if ix.subs == nil {
		return &st.cmds[ix.at]
	}
	if len(args) > 1 {
		if at, ok := ix.subs[strings.ToLower(string(args[1]))]; ok {
			return &st.cmds[at]
		}
	}
	return &st.cmds[len(st.cmds)-1]
}

// record counts a command's reply. cmd may be nil (nothing to count per
// command).
func (st *respStats) record(cmd *respCmdStat, reply *wire.Reply, took time.Duration) {
	isErr := reply != nil && reply.Kind == wire.Reply_ERROR
	if isErr {
		st.countError(reply.Str)
	}
	if cmd == nil {
		return
	}
	switch {
	case !isErr && reply != nil && reply.Kind == wire.Reply_STATUS && reply.Str == "QUEUED":
		return // queueing is not a call (Redis counts the command as EXEC runs it; castkv counts the EXEC)
	case isErr && respRejectedUnknown(reply.Str):
		return // Redis has no command to count it on
	case isErr && respRejected(reply.Str):
		cmd.rejected.Add(1)
		return
	case isErr:
		cmd.failed.Add(1)
	}
	cmd.calls.Add(1)
	ns := uint64(max(took, 0))
	cmd.nanos.Add(ns)
	h := cmd.hist.Load()
	if h == nil {
		cmd.hist.CompareAndSwap(nil, new(respLatency))
		h = cmd.hist.Load()
	}
	h.add(ns)
}

// respRejectedUnknown reports an unknown command or subcommand.
func respRejectedUnknown(text string) bool {
	return strings.HasPrefix(text, "ERR unknown command") || strings.HasPrefix(text, "ERR unknown subcommand")
}

// respRejected reports an error Redis gives before a command runs
// (processCommand's rejectCommand): its arity, or a missing AUTH.
func respRejected(text string) bool {
	return strings.HasPrefix(text, "ERR wrong number of arguments") || strings.HasPrefix(text, "NOAUTH ")
}

// countError counts an error reply under its code: the first word within
// its first 32 bytes, else "ERR" (afterErrorReply).
func (st *respStats) countError(text string) {
	st.errorReplies.Add(1)
	code := "ERR"
	if i := strings.IndexByte(text[:min(len(text), 32)], ' '); i > 0 {
		code = text[:i]
	}
	st.errMu.Lock()
	if _, ok := st.errors[code]; ok || len(st.errors) < respMaxErrorCodes {
		st.errors[code]++
	}
	st.errMu.Unlock()
}

// reset is CONFIG RESETSTAT's part here. A command recorded meanwhile may
// be counted half before and half after; Redis has no such overlap, but
// no count is ever wrong by more than that one command.
func (st *respStats) reset() {
	for i := range st.cmds {
		c := &st.cmds[i]
		c.calls.Store(0)
		c.nanos.Store(0)
		c.rejected.Store(0)
		c.failed.Store(0)
		c.hist.Store(nil)
	}
	st.errorReplies.Store(0)
	st.errMu.Lock()
	clear(st.errors)
	st.errMu.Unlock()
}

// commandStats is INFO commandstats's lines, in name order (Redis's are
// in its dict's order): a command with any count.
func (st *respStats) commandStats() [][2]string {
	var out [][2]string
	for i := range st.cmds {
		c := &st.cmds[i]
		calls, nanos, rejected, failed := c.calls.Load(), c.nanos.Load(), c.rejected.Load(), c.failed.Load()
		if calls == 0 && rejected == 0 && failed == 0 {
			continue
		}
		perCall := 0.0
		if calls > 0 {
			perCall = float64(nanos) / 1e3 / float64(calls)
		}
		out = append(out, [2]string{"cmdstat_" + c.name, "calls=" + strconv.FormatUint(calls, 10) +
			",usec=" + strconv.FormatUint(nanos/1e3, 10) + ",usec_per_call=" + strconv.FormatFloat(perCall, 'f', 2, 64) +
			",rejected_calls=" + strconv.FormatUint(rejected, 10) + ",failed_calls=" + strconv.FormatUint(failed, 10)})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// errorStats is INFO errorstats's lines, by code.
func (st *respStats) errorStats() [][2]string {
	st.errMu.Lock()
	out := make([][2]string, 0, len(st.errors))
	for code, n := range st.errors {
		out = append(out, [2]string{"errorstat_" + respInfoSafe(code), "count=" + strconv.FormatUint(n, 10)})
	}
	st.errMu.Unlock()
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// latencyStats is INFO latencystats's lines: Redis's default percentiles,
// 50, 99 and 99.9, in microseconds, of every command called.
func (st *respStats) latencyStats() [][2]string {
	var out [][2]string
	for i := range st.cmds {
		c := &st.cmds[i]
		h := c.hist.Load()
		if h == nil {
			continue
		}
		var b strings.Builder
		for j, p := range []struct {
			name string
			q    float64
		}{{"p50", 50}, {"p99", 99}, {"p99.9", 99.9}} {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.name + "=" + strconv.FormatFloat(float64(h.percentile(p.q))/1e3, 'f', 3, 64))
		}
		out = append(out, [2]string{"latency_percentiles_usec_" + c.name, b.String()})
	}
	return out
}

// respInfoSafe is Redis's getSafeInfoString: the characters that would
// break an INFO line become '_'.
func respInfoSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '#' || r == ':' || r == '\r' || r == '\n' {
			return '_'
		}
		return r
	}, s)
}

// respLatency is a latency histogram in nanoseconds, log-linear like
// Redis's HdrHistogram: values below 2^respLatencySubBits+1 each have a
// bucket, and every power of two above is cut in 2^respLatencySubBits
// buckets, so a bucket is at most 1/16 of its values wide and its middle
// within 3.2% of any of them. Values from 2^respLatencyMaxBits ns (about
// 18 minutes, far past CommandTimeout) on share the last bucket.
type respLatency [respLatencyBuckets]atomic.Uint64

const (
	respLatencySubBits = 4
	respLatencyMaxBits = 40
	respLatencyBuckets = (respLatencyMaxBits-respLatencySubBits-1)<<respLatencySubBits + 2<<respLatencySubBits
)

func respLatencyBucket(ns uint64) int {
	ns = min(ns, 1<<respLatencyMaxBits-1)
	if ns < 2<<respLatencySubBits {
		return int(ns)
	}
	shift := bits.Len64(ns) - respLatencySubBits - 1
	return shift<<respLatencySubBits + int(ns>>shift)
}

// respLatencyValue is the middle of bucket i's values.
func respLatencyValue(i int) uint64 {
	if i < 2<<respLatencySubBits {
		return uint64(i)
	}
	shift := i>>respLatencySubBits - 1
	low := uint64(i-shift<<respLatencySubBits) << shift
	return low + (uint64(1)<<shift-1)/2
}

func (h *respLatency) add(ns uint64) { h[respLatencyBucket(ns)].Add(1) }

// percentile is the value at q percent, as hdr_value_at_percentile
// counts: the bucket holding the round(q% of the total)-th value.
func (h *respLatency) percentile(q float64) uint64 {
	var counts [respLatencyBuckets]uint64
	var total uint64
	for i := range h {
		counts[i] = h[i].Load()
		total += counts[i]
	}
	want := max(uint64(q/100*float64(total)+0.5), 1)
	var seen uint64
	for i, n := range counts {
		if seen += n; seen >= want {
			return respLatencyValue(i)
		}
	}
	return 0
}
