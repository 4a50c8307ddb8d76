package sim

import (
	"fmt"
	"os"
	"testing"
)

// TestRegressionSeeds replays testdata/seeds.txt: seeds that must pass
// (they once found a bug, or exercise a hard path) and seeds that must
// catch a canary. A failure prints the replay command.
func TestRegressionSeeds(t *testing.T) {
	f, err := os.Open("../testdata/seeds.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := ParseSeedFile(f)
	if err != nil {
		t.Fatalf("testdata/seeds.txt: %v", err)
	}
	if len(entries) == 0 {
		t.Fatal("testdata/seeds.txt lists no seeds")
	}
	for _, e := range entries {
		name := fmt.Sprintf("seed=%d/pass", e.Seed)
		if e.Canary != "" {
			name = fmt.Sprintf("seed=%d/catch=%s", e.Seed, e.Canary)
		}
		t.Run(name, func(t *testing.T) {
			res, err := Run(e.Options())
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Verdict(res); err != nil {
				t.Errorf("testdata/seeds.txt:%d: %v\n  replay: %s", e.Line, err, e.Replay())
				if e.Canary != "" {
					t.Logf("if the protocol changed, regenerate the catch lines: go run ./cmd/castsim seeds --write")
				}
			}
		})
	}
}
