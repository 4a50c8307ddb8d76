package sim

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRegressionSeeds replays testdata/seeds.txt: seeds that once found a
// bug or exercise a hard path. Each must pass with every fault on.
func TestRegressionSeeds(t *testing.T) {
	f, err := os.Open("../testdata/seeds.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 3)
		if len(fields) < 3 {
			t.Fatalf("testdata/seeds.txt: %q is not \"seed duration note\"", line)
		}
		seed, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			t.Fatalf("testdata/seeds.txt: bad seed in %q: %v", line, err)
		}
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			t.Fatalf("testdata/seeds.txt: bad duration in %q: %v", line, err)
		}
		res, err := Run(Options{Seed: seed, Duration: d})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Errorf("seed %d (%s): %s\n  replay: go run ./cmd/castsim run --seed %d --duration %s", seed, fields[2], res.Violation, seed, d)
		}
		n++
	}
	if n == 0 {
		t.Fatal("testdata/seeds.txt lists no seeds")
	}
}
