package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"castkv/checker"
)

// workload draws client commands over a small keyspace so that operations
// collide. Every written value is unique ("c<client>-<n>"), some padded past
// the API's inline limit so they travel by Stage.
type workload struct {
	rng       *rand.Rand
	keys      []string
	global    bool // DBSIZE and FLUSHALL, which join every key into one component
	bigValueP float64
	bigValue  int
}

func (wl *workload) key() string { return wl.keys[wl.rng.IntN(len(wl.keys))] }

func (wl *workload) distinctKeys() []string {
	n := 1 + wl.rng.IntN(min(3, len(wl.keys)))
	perm := wl.rng.Perm(len(wl.keys))[:n]
	out := make([]string, n)
	for i, p := range perm {
		out[i] = wl.keys[p]
	}
	return out
}

func (wl *workload) value(c *client) string {
	c.written++
	v := fmt.Sprintf("c%d-%d", c.idx, c.written)
	if wl.rng.Float64() < wl.bigValueP {
		v += "-" + strings.Repeat("x", wl.bigValue)
	}
	return v
}

func (wl *workload) next(c *client) checker.Input {
	p := wl.rng.IntN(100)
	if wl.global && p < 3 {
		if p < 2 {
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
		return in
	case p < 53:
		return checker.Input{Cmd: "setnx", Keys: []string{wl.key()}, Values: []string{wl.value(c)}}
	case p < 58:
		return checker.Input{Cmd: "setxx", Keys: []string{wl.key()}, Values: []string{wl.value(c)}}
	case p < 63:
		return checker.Input{Cmd: "getset", Keys: []string{wl.key()}, Values: []string{wl.value(c)}}
	case p < 73:
		return checker.Input{Cmd: "mget", Keys: wl.distinctKeys()}
	case p < 83:
		keys := wl.distinctKeys()
		in := checker.Input{Cmd: "mset", Keys: keys}
		for range keys {
			in.Values = append(in.Values, wl.value(c))
		}
		return in
	case p < 88:
		return checker.Input{Cmd: "exists", Keys: wl.distinctKeys()}
	default:
		return checker.Input{Cmd: "del", Keys: wl.distinctKeys()}
	}
}
