package checker

import (
	"path/filepath"
	"testing"
	"time"
)

// TestStateEquality: porcupine prunes a state it has seen, so Equal and Hash
// must follow contents, not how a state was built.
func TestStateEquality(t *testing.T) {
	build := func(width int, puts ...[2]int32) *state {
		s := (&state{}).copyFor(&call{width: width})
		for _, p := range puts {
			s.put(p[0], p[1])
		}
		return s
	}
	empty := &state{}
	same := []*state{
		empty,
		build(1),
		build(40, [2]int32{33, 5}, [2]int32{33, absent}), // a chunk of absent keys
	}
	for i, a := range same {
		for _, b := range same[i+1:] {
			if !equalStates(a, b) || !equalStates(b, a) || a.hash != b.hash {
				t.Errorf("states with no key differ: %+v, %+v", a, b)
			}
		}
	}
	short := build(1, [2]int32{0, 7})
	long := build(40, [2]int32{0, 7})
	if !equalStates(short, long) || !equalStates(long, short) || short.hash != long.hash {
		t.Errorf("the same key and value in states of different widths differ")
	}
	for name, other := range map[string]*state{
		"another key":   build(40, [2]int32{0, 7}, [2]int32{20, 7}),
		"another value": build(1, [2]int32{0, 8}),
		"empty":         empty,
		"moved value":   build(40, [2]int32{17, 7}),
	} {
		if equalStates(short, other) || equalStates(other, short) {
			t.Errorf("%s: equal to %v", name, short)
		}
		// A hash collision must not make them equal either.
		collided := *other
		collided.hash, collided.size = short.hash, short.size
		if equalStates(short, &collided) || equalStates(&collided, short) {
			t.Errorf("%s with a colliding hash: equal to %v", name, short)
		}
	}
}

// TestTimeout: a check that cannot finish in time is undecided, which is not
// linearizable, and can still be drawn.
func TestTimeout(t *testing.T) {
	ops := []Op{op(0, 0, 10, set("x", "1"), replyOK), op(1, 20, 30, get("x"), bulk("1"))}
	res := Check(ops, time.Nanosecond)
	if res.Linearizable || !res.TimedOut {
		t.Fatalf("got %s, want a timeout", res)
	}
	if err := res.WriteHTML(filepath.Join(t.TempDir(), "timeout.html")); err != nil {
		t.Error(err)
	}
	if res := Check(ops, time.Minute); !res.Linearizable || res.TimedOut {
		t.Errorf("with a minute: got %s", res)
	}
}

func TestEmptyHistory(t *testing.T) {
	res := Check(nil, 0)
	if !res.Linearizable || res.Components != 0 || res.Ops != 0 {
		t.Errorf("got %s", res)
	}
	if err := res.WriteHTML(filepath.Join(t.TempDir(), "empty.html")); err != nil {
		t.Error(err)
	}
	if ok, _ := CheckLiveness(nil, 0, 10); ok {
		t.Error("an empty history shows no recovery")
	}
}
