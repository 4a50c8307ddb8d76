package sim

import (
	"strings"
	"testing"
	"time"
)

func TestRunNoFaults(t *testing.T) {
	res, err := Run(Options{Seed: 1, Duration: 5 * time.Second, Faults: FaultSet{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ops=%d acked=%d trace=%s sim=%.1fs wall=%.2fs", res.Ops, res.AckedWrites, res.Trace, res.SimSeconds, res.WallSeconds)
	if !res.OK() {
		t.Fatalf("violation: %s\n%s", res.Violation, strings.Join(res.Trail, "\n"))
	}
	if res.AckedWrites == 0 {
		t.Fatal("no write was acknowledged")
	}
}
