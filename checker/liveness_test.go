package checker

import (
	"strings"
	"testing"
)

func TestCheckLiveness(t *testing.T) {
	const from, bound = 1000, 500 // faults stop at 1000; service by 1500
	history := []Op{
		op(0, 900, 1100, set("x", "1"), refused("CLUSTERDOWN no primary")), // during recovery: allowed
		unknown(1, 1200, set("y", "1")),                                    // before the bound: allowed
		op(2, 1500, 1510, get("x"), replyNil),
		op(2, 1600, 1610, set("x", "2"), replyOK),
	}
	if ok, why := CheckLiveness(history, from, bound); !ok {
		t.Errorf("recovered history failed: %s", why)
	}

	for _, tc := range []struct {
		name string
		late Op
		want string
	}{
		{"unknown outcome after the bound", unknown(3, 1700, set("z", "1")), "op #4 by client 3 invoked at 1.7µs"},
		{"timeout after the bound", Op{Client: 3, Call: 1700, Input: get("z"), Unknown: true}, "get z -> ? (unknown)"},
		{"error after the bound", op(3, 1550, 1560, get("z"), refused("TRYAGAIN moving")), "TRYAGAIN moving"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := CheckLiveness(append(history[:4:4], tc.late), from, bound)
			if ok || !strings.Contains(why, tc.want) {
				t.Errorf("got %v %q, want a failure naming %q", ok, why, tc.want)
			}
		})
	}

	t.Run("earliest offender", func(t *testing.T) {
		h := append(history[:4:4], unknown(3, 1900, get("a")), op(4, 1800, 1810, get("b"), refused("TRYAGAIN b")))
		if ok, why := CheckLiveness(h, from, bound); ok || !strings.Contains(why, "TRYAGAIN b") {
			t.Errorf("got %v %q, want the op invoked at 1800", ok, why)
		}
	})

	t.Run("nothing invoked after the bound", func(t *testing.T) {
		if ok, why := CheckLiveness(history[:2], from, bound); ok || !strings.Contains(why, "no op") {
			t.Errorf("got %v %q, want a failure: nothing shows recovery", ok, why)
		}
	})
}

// An INCRBY refused because its key holds no integer was answered: it is
// not a failure of service.
func TestLivenessCountsAnIncrRefusalAsAnswered(t *testing.T) {
	ops := []Op{op(0, 100, 110, incrby("x", 1), refused(NotIntegerError))}
	if ok, why := CheckLiveness(ops, 0, 50); !ok {
		t.Errorf("an INCRBY refused for its value failed liveness: %s", why)
	}
	ops[0].Output = refused("TRYAGAIN shard moving")
	if ok, _ := CheckLiveness(ops, 0, 50); ok {
		t.Error("an INCRBY refused with TRYAGAIN passed liveness")
	}
}
