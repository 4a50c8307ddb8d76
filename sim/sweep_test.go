package sim

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSweepDev runs CASTKV_SEEDS seeds (dev aid).
func TestSweepDev(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CASTKV_SEEDS"))
	if n == 0 {
		t.Skip("set CASTKV_SEEDS")
	}
	canary := os.Getenv("CASTKV_CANARY")
	failed := 0
	for s := 1; s <= n; s++ {
		res, err := Run(Options{Seed: uint64(s), Duration: 20 * time.Second, Canary: canary})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d ops=%d acked=%d faults=%v sim=%.1fs wall=%.2fs ok=%v", s, res.Ops, res.AckedWrites, res.Faults, res.SimSeconds, res.WallSeconds, res.OK())
		if !res.OK() {
			failed++
			t.Logf("violation: %s", res.Violation)
			if os.Getenv("CASTKV_TRAIL") != "" {
				t.Logf("%s", strings.Join(res.Trail, "\n"))
			}
		}
	}
	t.Logf("failed %d/%d", failed, n)
}
