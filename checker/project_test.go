package checker

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
	"pgregory.net/rapid"
)

// TestProjectionsOfLinearizableHistories: a projection may say less than
// the history, never more, so every key's projection of a linearizable
// history is linearizable. Multi-key DEL, EXISTS and MGET, DBSIZE and
// FLUSHALL, unknown outcomes and refusals all occur.
func TestProjectionsOfLinearizableHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := drawWorkload(t).concurrent(rapidPicker(t))
		keys := historyKeys(ops)
		parts, _ := projectKeys(ops, keys)
		for i, p := range parts {
			if res := Check(p, 0); !res.Linearizable {
				t.Fatalf("projection on %s: %s%s\nfrom%s", keys[i], res, describeHistory(p), describeHistory(ops))
			}
		}
	})
}

// TestPrefixesOfLinearizableHistories: every prefix (prefixAt) of a
// linearizable history is linearizable, so a failing prefix proves a
// violation.
func TestPrefixesOfLinearizableHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := drawWorkload(t).concurrent(rapidPicker(t))
		comps, _ := compile(ops)
		for _, c := range comps {
			for _, o := range c {
				if o.Return == math.MaxInt64 {
					continue
				}
				if !porcupine.CheckOperations(model, prefixAt(c, o.Return)) {
					t.Fatalf("the prefix up to %d is not linearizable%s", o.Return, describeHistory(ops))
				}
			}
		}
	})
}

func historyKeys(ops []Op) []string {
	var keys []string
	for _, op := range ops {
		keys = append(keys, op.Input.Keys...)
	}
	return distinctKeys(keys)
}

// A violation on one key of a component of several is found on that key
// alone, and named so.
func TestViolationFoundByKey(t *testing.T) {
	ops := []Op{
		op(0, 0, 10, mset("a", "1", "b", "1"), replyOK),
		op(1, 20, 30, mget("a", "b"), arr("1", "1")),
		op(0, 40, 50, set("b", "2"), replyOK),
		op(1, 60, 70, get("b"), bulk("1")), // stale
		op(2, 0, 70, del("a", "c"), integer(1)),
	}
	res := Check(ops, 0)
	if res.Linearizable || !res.ByKey || !slices.EqualFunc(res.Failed, [][]string{{"b"}}, slices.Equal) {
		t.Fatalf("got %s, failed %q; want a violation on b alone", res, res.Failed)
	}
	if want := "NOT linearizable: the ops on b alone contradict each other: 5 ops in 1 components (0 dropped)"; res.String() != want {
		t.Errorf("got %s, want %s", res, want)
	}
}

// A violation no key shows alone, an MGET seeing two keys at different
// moments, is found by the search of the whole component.
func TestViolationOnlyWhole(t *testing.T) {
	ops := []Op{
		op(0, 0, 10, mset("a", "1", "b", "1"), replyOK),
		op(0, 20, 30, mset("a", "2", "b", "2"), replyOK),
		op(1, 0, 100, mget("a", "b"), arr("1", "2")),
	}
	res := Check(ops, 0)
	if res.Linearizable || res.ByKey || !slices.EqualFunc(res.Failed, [][]string{{"a", "b"}}, slices.Equal) {
		t.Fatalf("got %s, failed %q; want a violation on the component {a b}", res, res.Failed)
	}
}

// A DEL of several keys that deleted some is, on each key, a DEL with any
// count that surely took effect: a later read of the key must not see the
// value it deleted.
func TestProjectedDel(t *testing.T) {
	ops := []Op{
		op(0, 0, 10, set("a", "1"), replyOK),
		op(0, 20, 30, del("a", "b"), integer(1)),
		op(1, 40, 50, get("b"), replyNil),
		op(1, 60, 70, get("a"), replyNil),
	}
	if res := Check(ops, 0); !res.Linearizable {
		t.Fatalf("got %s; want linearizable%s", res, describeHistory(ops))
	}
	ops[3].Output = bulk("1") // a deleted value read back
	res := Check(ops, 0)
	if res.Linearizable || !res.ByKey || !slices.EqualFunc(res.Failed, [][]string{{"a"}}, slices.Equal) {
		t.Fatalf("got %s, failed %q; want a violation on a alone", res, res.Failed)
	}
}

// The picture of a violation shows the failing key's ops up to the one
// that fails, not what came after, nor other keys.
func TestPictureIsCut(t *testing.T) {
	ops := []Op{
		op(0, 0, 10, mset("a", "1", "b", "1"), replyOK),
		op(1, 20, 30, get("a"), bulk("2")), // never written
	}
	for i := range 50 {
		at := int64(100 + 20*i)
		ops = append(ops, op(0, at, at+10, set("a", "after-the-violation"), replyOK), op(1, at, at+10, get("b"), bulk("1")))
	}
	res := Check(ops, 0)
	if res.Linearizable || !res.ByKey {
		t.Fatalf("got %s; want a violation on a alone", res)
	}
	path := filepath.Join(t.TempDir(), "cut.html")
	if err := res.WriteHTML(path); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `get a -\u003e \"2\"`) {
		t.Errorf("the picture lacks the failing read")
	}
	for _, later := range []string{`after-the-violation`, `get b`} {
		if strings.Contains(string(html), later) {
			t.Errorf("the picture shows %s, which came after the violation or is on another key", later)
		}
	}
}

// A failing part too large to draw is refused, not drawn at any size.
func TestPictureBounded(t *testing.T) {
	var ops []Op
	for i := range MaxPictureOps {
		ops = append(ops, op(0, int64(10*i), int64(10*i+5), set("x", "v"), replyOK))
	}
	ops = append(ops, op(1, int64(10*MaxPictureOps), int64(10*MaxPictureOps+5), get("x"), replyNil))
	res := Check(ops, 0)
	if res.Linearizable {
		t.Fatalf("got %s; want a violation", res)
	}
	err := res.WriteHTML(filepath.Join(t.TempDir(), "big.html"))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("drawing %d ops: got %v, want a refusal", len(ops), err)
	}
}

// A component of global commands alone, with no key to search it by, is
// still searched.
func TestGlobalOnlyHistory(t *testing.T) {
	ops := []Op{op(0, 0, 10, global("flushall"), replyNil)}
	if res := Check(ops, 0); res.Linearizable || res.Components != 1 {
		t.Errorf("flushall answered nil: got %s, want a violation", res)
	}
}
