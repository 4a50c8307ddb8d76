package sim

import (
	"testing"
	"time"
)

// BenchmarkRun measures the simulator at default settings (5 clients,
// every fault, 20 s of faults plus heal, restart and final reads) on one
// goroutine: simulated seconds and client operations per wall second.
func BenchmarkRun(b *testing.B) {
	var sim, wall float64
	ops := 0
	for i := 0; i < b.N; i++ {
		res, err := Run(Options{Seed: uint64(i + 1), Duration: 20 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		sim += res.SimSeconds
		wall += res.WallSeconds
		ops += res.Ops
	}
	b.ReportMetric(sim/wall, "sim-s/wall-s")
	b.ReportMetric(float64(ops)/wall, "ops/wall-s")
}
