package sim

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// sweep runs seeds [from, to] on GOMAXPROCS workers and returns the failed
// ones with their violations. stopAtFirst ends early once one failed.
func sweep(t *testing.T, from, to uint64, opts Options, stopAtFirst bool) map[uint64]string {
	t.Helper()
	var (
		mu     sync.Mutex
		failed = map[uint64]string{}
		next   = from
		wg     sync.WaitGroup
	)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next > to || (stopAtFirst && len(failed) > 0) {
					mu.Unlock()
					return
				}
				seed := next
				next++
				mu.Unlock()
				o := opts
				o.Seed = seed
				res, err := Run(o)
				if err != nil {
					t.Error(err)
					return
				}
				if !res.OK() {
					mu.Lock()
					failed[seed] = res.Violation
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return failed
}

// TestSweep is CI's seed sweep: every fault on, default settings.
func TestSweep(t *testing.T) {
	const seeds = 100
	failed := sweep(t, 1, seeds, Options{Duration: 20 * time.Second}, false)
	for seed, why := range failed {
		t.Errorf("seed %d failed: %s\n  replay: go run ./cmd/castsim run --seed %d --duration 20s --clients 5 --faults all", seed, why, seed)
	}
}

// TestCanariesAreCaught proves the checks can fail: each deliberate defect
// must make some seed of a sweep fail.
func TestCanariesAreCaught(t *testing.T) {
	for _, canary := range Canaries {
		t.Run(canary, func(t *testing.T) {
			failed := sweep(t, 1, 200, Options{Duration: 20 * time.Second, Canary: canary}, true)
			if len(failed) == 0 {
				t.Fatalf("canary %s survived seeds 1-200: the checks cannot see this defect", canary)
			}
			for seed, why := range failed {
				t.Logf("canary %s caught by seed %d: %.200s", canary, seed, why)
			}
		})
	}
}

func Example_replay() {
	res, _ := Run(Options{Seed: 3, Duration: 5 * time.Second})
	fmt.Println(res.OK())
	// Output: true
}
