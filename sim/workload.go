package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"castkv/checker"
)

// workload draws client commands over a small keyspace so that operations
// collide. Every written value but "" is unique: it starts with its tag
// "c<client>-<n>", and some are padded (past the API's inline limit, up to
// several MiB) so they travel by Stage. The history holds padded values in
// short form (see compactValue), so a run's memory does not grow with the
// bytes it wrote.
type workload struct {
	rng    *rand.Rand
	keys   []string
	global bool // DBSIZE and FLUSHALL, which join every key into one component
	// pairs: multi-key commands may span two groups, 2i and 2i+1
	// (crossKeys), which several shards hold in different shards: reads at
	// one timestamp, writes as transactions.
	pairs bool
	k     WorkloadKnobs
	// largeLeft is what large values may still add up to (LargeBudgetBytes).
	largeLeft int
	// uncertain counts, per group of keys, the writes whose outcome a
	// client could not learn (see maxUncertainWrites).
	uncertain map[int]int
}

// maxUncertainWrites bounds the writes of unknown outcome on one group of
// keys before the group's commands turn plain. An unknown write stays
// pending to the end of the history, and porcupine's search doubles with
// each one it cannot drop. The checker drops or bounds an unknown write
// whose value is never or first read (checker/prepare.go), but not while
// a command that sees whether a key exists (EXISTS, DEL, SETNX, SETXX,
// SET NX or XX, DBSIZE) may follow it: seed 638 of 1-2000 had 24 unknown
// writes on three keys, and porcupine had not decided after 5 minutes and
// 18 GB; with 10 allowed, seed 33 with 40 clients took 17 s and 2 GB to
// check, and with 5, 42 ms and 267 MB. Once a group has had
// maxUncertainWrites, its clients send only GET, MGET, SET, SET GET,
// GETSET and MSET to it: as many writes as before, and every read still
// checked.
const maxUncertainWrites = 5

// group is the index of key's group of KeyGroup keys.
func (wl *workload) group(key string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(key, "k"))
	if err != nil {
		panic(fmt.Sprintf("sim: key %q is not k<n>", key))
	}
	return i / wl.k.KeyGroup
}

// bucket is the set of keys whose unknown writes share the bound: the keys
// porcupine checks together. With global commands (DBSIZE, FLUSHALL) in
// the workload that is every key (seed 317 of 1-2000: 17 unknown writes,
// at most 5 per group of one key, and an unknown FLUSHALL joined them in
// one component that porcupine had not decided after a minute).
func (wl *workload) bucket(key string) int {
	switch {
	case wl.global:
		return 0
	case wl.pairs:
		return wl.group(key) / 2 // a pair is checked together
	}
	return wl.group(key)
}

// uncertainWrite records that in, a write, has an unknown outcome.
func (wl *workload) uncertainWrite(in checker.Input) {
	if wl.uncertain == nil {
		wl.uncertain = map[int]int{}
	}
	if in.Cmd == "flushall" { // drawn only when global
		wl.uncertain[0]++
		return
	}
	for _, k := range in.Keys {
		wl.uncertain[wl.bucket(k)]++
	}
}

// saturated reports whether in touches a bucket that has had
// maxUncertainWrites writes of unknown outcome.
func (wl *workload) saturated(in checker.Input) bool {
	if in.Cmd == "flushall" || in.Cmd == "dbsize" {
		return wl.uncertain[0] >= maxUncertainWrites
	}
	for _, k := range in.Keys {
		if wl.uncertain[wl.bucket(k)] >= maxUncertainWrites {
			return true
		}
	}
	return false
}

func (wl *workload) key() string { return wl.keys[wl.rng.IntN(len(wl.keys))] }

// distinctKeys draws the keys of a multi-key command from one group of
// KeyGroup keys, as a client co-locates keys with a hash tag. Groups keep
// the checker's work small: porcupine checks each set of keys touched
// together on its own, and its cost grows steeply with the concurrent ops
// in one set.
func (wl *workload) distinctKeys() []string {
	g := wl.k.KeyGroup
	first := wl.rng.IntN(len(wl.keys)) / g * g
	group := wl.keys[first:min(first+g, len(wl.keys))]
	n := 1 + wl.rng.IntN(min(3, len(group)))
	perm := wl.rng.Perm(len(group))[:n]
	out := make([]string, n)
	for i, p := range perm {
		out[i] = group[p]
	}
	return out
}

// block draws a MULTI block: two to four commands of one key each, over
// keys drawn as MSET's are, so that a block may span shards.
func (wl *workload) block(c *client) checker.Input {
	keys := wl.multiKeys()
	in := checker.Input{Cmd: "exec"}
	for range 2 + wl.rng.IntN(3) {
		k := keys[wl.rng.IntN(len(keys))]
		sub := checker.Input{Keys: []string{k}}
		switch p := wl.rng.IntN(20); {
		case p < 6:
			sub.Cmd = "get"
		case p < 8:
			sub.Cmd = "del"
		case p < 10:
			sub.Cmd, sub.Values = "getset", []string{wl.value(c)}
		case p < 13 && wl.k.IncrP > 0:
			sub.Cmd, sub.Incr = "incrby", int64(1+wl.rng.IntN(5))
		default:
			sub.Cmd, sub.Values = "set", []string{wl.value(c)}
		}
		in.Sub = append(in.Sub, sub)
		if !slices.Contains(in.Keys, k) {
			in.Keys = append(in.Keys, k)
		}
	}
	return in
}

// keyPair draws two distinct keys of one group, for RENAME: Redis Cluster
// refuses keys in different slots, so a client co-locates them.
func (wl *workload) keyPair() []string {
	g := wl.k.KeyGroup
	first := wl.rng.IntN(len(wl.keys)) / g * g
	group := wl.keys[first:min(first+g, len(wl.keys))]
	if len(group) < 2 { // the last group may be short
		group = wl.keys[:g]
	}
	perm := wl.rng.Perm(len(group))
	return []string{group[perm[0]], group[perm[1]]}
}

// crossKeys draws the keys of a read that spans a pair of groups (2i and
// 2i+1): one or two keys of each. With several shards the two groups'
// hash tags usually land in different shards, so the read is answered by
// each at one timestamp and must still be one snapshot. Pairs, not any two
// groups, keep porcupine's components small.
func (wl *workload) crossKeys() []string {
	g := wl.k.KeyGroup
	pairs := len(wl.keys) / (2 * g)
	first := wl.rng.IntN(pairs) * 2 * g
	var out []string
	for _, start := range []int{first, first + g} {
		group := wl.keys[start:min(start+g, len(wl.keys))]
		perm := wl.rng.Perm(len(group))[:1+wl.rng.IntN(min(2, len(group)))]
		for _, p := range perm {
			out = append(out, group[p])
		}
	}
	if wl.rng.IntN(6) == 0 {
		out = append(out, out[wl.rng.IntN(len(out))]) // a key named twice
	}
	return out
}

// ttl draws a time to live in milliseconds, log-uniform from 50 ms to 25 s:
// short ones expire within the run and must be gone, long ones must still
// be there (the model allows each a window, checker.ttlWindow).
func (wl *workload) ttl() int64 {
	return (drawer{wl.rng}).durationLog(50*time.Millisecond, 25*time.Second).Milliseconds()
}

// multiKeys draws the keys of a multi-key command (MGET, EXISTS, MSET,
// DEL): now and then across a pair of groups when the workload has pairs,
// so that writes run as transactions across shards and reads see them.
func (wl *workload) multiKeys() []string {
	if wl.pairs && wl.rng.IntN(2) == 0 {
		return wl.crossKeys()
	}
	return wl.distinctKeys()
}

// value draws the next value c writes, in the history's short form.
func (wl *workload) value(c *client) string {
	if wl.k.IntP > 0 && wl.rng.Float64() < wl.k.IntP {
		// INCRBY counts from it. Drawn from a wide range, so that values
		// stay all but unique: porcupine's search is fast when a value
		// read names the write that made it (seed 288 of 201-500 needed
		// 213 s with integers from 0-19).
		return strconv.Itoa(wl.rng.IntN(1 << 20))
	}
	p := wl.rng.Float64()
	if p < wl.k.EmptyP {
		return ""
	}
	p -= wl.k.EmptyP
	c.written++
	tag := fmt.Sprintf("c%d-%d", c.idx, c.written)
	d := drawer{wl.rng}
	switch {
	case p < wl.k.LargeP && wl.largeLeft > 0:
		n := min(d.logIntIn(256<<10, max(256<<10, wl.k.LargeMaxBytes)), wl.largeLeft)
		wl.largeLeft -= n
		return paddedValue(tag, n)
	case p < wl.k.LargeP+wl.k.PaddedP:
		return paddedValue(tag, d.logIntIn(len(tag)+2, max(len(tag)+2, wl.k.PaddedMaxBytes)))
	}
	return tag
}

// A padded value of n bytes is its tag, a dot, and the tag and dot again
// and again: "c1-7.c1-7.c1-" for 13 bytes. The history writes it
// "c1-7~13"; the client expands it on the wire and shortens what it reads
// back, after checking every byte, so a value that was cut, spliced or
// swapped shows up as one no client wrote.
const shortMark = "~"

func paddedValue(tag string, n int) string {
	if n <= len(tag)+1 {
		return tag
	}
	return tag + shortMark + strconv.Itoa(n)
}

// expandValue turns a history value into the bytes a client sends.
func expandValue(v string) string {
	tag, size, ok := strings.Cut(v, shortMark)
	if !ok {
		return v
	}
	n, err := strconv.Atoi(size)
	if err != nil {
		panic(fmt.Sprintf("sim: bad short value %q", v))
	}
	unit := tag + "."
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// compactValue turns a value read back into its history form: a padded
// value whose bytes are all as written becomes its short form; anything
// else that looks padded becomes a value no client wrote.
func compactValue(v string) string {
	i := strings.IndexByte(v, '.')
	if i < 0 {
		return v
	}
	// v repeats its first i+1 bytes iff shifting it by i+1 changes nothing.
	if k := i + 1; len(v) > k && v[k:] == v[:len(v)-k] {
		return v[:i] + shortMark + strconv.Itoa(len(v))
	}
	h := fnv.New64a()
	h.Write([]byte(v))
	return fmt.Sprintf("corrupt:%d:%016x", len(v), h.Sum64())
}

// next draws c's next command. On a group that has had
// maxUncertainWrites, a command that sees whether a key exists becomes a
// plain one on the same keys.
func (wl *workload) next(c *client) checker.Input {
	in := wl.draw(c)
	if !wl.saturated(in) {
		return in
	}
	switch in.Cmd {
	case "setnx", "setxx":
		in.Cmd = "set"
	case "set":
		in.NX, in.XX = false, false
	case "exists", "del":
		in = checker.Input{Cmd: "mget", Keys: in.Keys}
	case "incrby", "pexpire":
		in = checker.Input{Cmd: "get", Keys: in.Keys}
	case "msetnx":
		in.Cmd = "mset"
	case "rename", "exec":
		in = checker.Input{Cmd: "mget", Keys: in.Keys}
	case "flushall", "dbsize":
		in = checker.Input{Cmd: "get", Keys: []string{wl.key()}}
	}
	return in
}

func (wl *workload) draw(c *client) checker.Input {
	if wl.k.IncrP > 0 && wl.rng.Float64() < wl.k.IncrP {
		// Counters mostly go up, so a key's values do not repeat and a read
		// names the step that made it (see value); one step in eight is a
		// DECR. A positive step of even size is sent as DECRBY of its
		// negation (toArgs), so every command's path runs.
		in := checker.Input{Cmd: "incrby", Keys: []string{wl.key()}}
		switch n := int64(2 + wl.rng.IntN(9)); wl.rng.IntN(8) {
		case 0:
			in.Incr = -1 // DECR
		case 1, 2, 3:
			in.Incr = 1 // INCR
		default:
			in.Incr = n // INCRBY n, or DECRBY -n
		}
		return in
	}
	if wl.k.PExpireP > 0 && wl.rng.Float64() < wl.k.PExpireP {
		return checker.Input{Cmd: "pexpire", Keys: []string{wl.key()}, PX: wl.ttl()}
	}
	if wl.k.MSetNXP > 0 && wl.rng.Float64() < wl.k.MSetNXP {
		keys := wl.multiKeys()
		in := checker.Input{Cmd: "msetnx", Keys: keys}
		for range keys {
			in.Values = append(in.Values, wl.value(c))
		}
		return in
	}
	if wl.k.RenameP > 0 && wl.k.KeyGroup > 1 && wl.rng.Float64() < wl.k.RenameP {
		return checker.Input{Cmd: "rename", Keys: wl.keyPair()}
	}
	if wl.k.ExecP > 0 && wl.rng.Float64() < wl.k.ExecP {
		return wl.block(c)
	}
	p := wl.rng.IntN(100)
	if wl.global && p < 3 {
		if p < 2 && wl.k.TTLP == 0 && wl.k.PExpireP == 0 {
			return checker.Input{Cmd: "dbsize"}
		}
		return checker.Input{Cmd: "flushall"}
	}
	switch {
	case p < 28:
		return checker.Input{Cmd: "get", Keys: []string{wl.key()}}
	case p < 48:
		in := checker.Input{Cmd: "set", Keys: []string{wl.key()}, Values: []string{wl.value(c)}}
		switch wl.rng.IntN(4) {
		case 0:
			in.NX = true
		case 1:
			in.XX = true
		}
		in.Get = wl.rng.IntN(3) == 0
		if wl.k.TTLP > 0 && wl.rng.Float64() < wl.k.TTLP {
			in.PX = wl.ttl()
		}
		return in
	case p < 53:
		return checker.Input{Cmd: "setnx", Keys: []string{wl.key()}, Values: []string{wl.value(c)}}
	case p < 58:
		return checker.Input{Cmd: "setxx", Keys: []string{wl.key()}, Values: []string{wl.value(c)}}
	case p < 63:
		return checker.Input{Cmd: "getset", Keys: []string{wl.key()}, Values: []string{wl.value(c)}}
	case p < 73:
		return checker.Input{Cmd: "mget", Keys: wl.multiKeys()}
	case p < 83:
		keys := wl.multiKeys()
		in := checker.Input{Cmd: "mset", Keys: keys}
		for range keys {
			in.Values = append(in.Values, wl.value(c))
		}
		return in
	case p < 88:
		return checker.Input{Cmd: "exists", Keys: wl.multiKeys()}
	default:
		return checker.Input{Cmd: "del", Keys: wl.multiKeys()}
	}
}
