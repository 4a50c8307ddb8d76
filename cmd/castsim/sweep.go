package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"castkv/sim"
)

const sweepUsage = `usage: castsim sweep --seeds A-B [--parallel P] [--duration D] [--clients C]
                      [--faults ...] [--canary NAME] [--check-budget D] [--json]

Runs seeds A..B inclusive (or the one seed N with --seeds N), P at a time.
Each failing seed leaves castsim-seed-N.html and castsim-seed-N.log in the
current directory and is listed at the end with its replay command. Exit
status 1 if any seed failed: for a canary sweep, that means it was caught.
A seed without a canary whose only failure was a linearizability check
that ran out of time (undecided, which a loaded machine makes likelier) is
run again alone at the end with a budget of 10 minutes, and that verdict
stands.

flags:
`

// Bounds of a sweep: how many seeds one invocation may run, and how many at
// once. A sweep keeps one small record per seed.
const (
	maxSweepSeeds = 10_000_000
	maxParallel   = 4096
	// recheckBudget bounds porcupine for a seed run again alone because
	// it was undecided in the sweep; maxRechecks bounds how many are (a
	// change that makes every history hard is reported, not waited out).
	recheckBudget = 10 * time.Minute
	maxRechecks   = 5
)

// sweepFlags are the flags of "castsim sweep".
type sweepFlags struct {
	settings
	seeds    string
	parallel int
}

func newSweepFlags(out io.Writer) (*flag.FlagSet, *sweepFlags) {
	f := &sweepFlags{}
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), sweepUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.seeds, "seeds", "", "seeds to run: A-B inclusive, or N (required)")
	fs.IntVar(&f.parallel, "parallel", runtime.NumCPU(), "seeds run at once")
	f.settings.register(fs)
	return fs, f
}

// seedRange is the inclusive range of seeds a sweep runs.
type seedRange struct{ first, last uint64 }

func (r seedRange) count() uint64 { return r.last - r.first + 1 }

// parseSeeds reads "A-B" or "N".
func parseSeeds(s string) (seedRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	first, err := strconv.ParseUint(lo, 10, 64)
	if err != nil {
		return seedRange{}, fmt.Errorf("--seeds %q: want A-B or N", s)
	}
	last := first
	if isRange {
		if last, err = strconv.ParseUint(hi, 10, 64); err != nil {
			return seedRange{}, fmt.Errorf("--seeds %q: want A-B or N", s)
		}
	}
	if last < first {
		return seedRange{}, fmt.Errorf("--seeds %q: the range is empty (%d > %d)", s, first, last)
	}
	if last-first >= maxSweepSeeds {
		return seedRange{}, fmt.Errorf("--seeds %q: more than %d seeds", s, maxSweepSeeds)
	}
	return seedRange{first, last}, nil
}

// seedOutcome is what a sweep keeps of one seed: the run's result minus
// its trail, which is written to disk as soon as the seed fails.
type seedOutcome struct {
	seed       uint64
	ops        int
	simSeconds float64
	faults     map[string]int
	failed     bool
	// undecided: it failed only because the check ran out of time.
	undecided bool
	// report is what to print for a failed seed: violation, replay
	// command, file paths.
	report string
}

// sweepJSON is the last line of "castsim sweep --json".
type sweepJSON struct {
	Seeds       uint64   `json:"seeds"`
	Failed      []uint64 `json:"failed"`
	Ops         int      `json:"ops"`
	SimSeconds  float64  `json:"sim_seconds"`
	WallSeconds float64  `json:"wall_seconds"`
	// FaultRuns counts, for each fault kind and fault counter, the runs
	// that drew it at least once.
	FaultRuns map[string]int `json:"fault_runs"`
}

func (c *cli) sweep(args []string) int {
	fs, f := newSweepFlags(c.stderr)
	if exit, ok := parseFlags(fs, args); !ok {
		return exit
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected arguments %q", fs.Args())
	}
	if !isSet(fs, "seeds") {
		return usageError(fs, "missing --seeds")
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	if f.parallel < 1 || f.parallel > maxParallel {
		return usageError(fs, "--parallel %d is out of range [1, %d]", f.parallel, maxParallel)
	}
	cfg, err := f.settings.resolve(fs)
	if err != nil {
		return usageError(fs, "%v", err)
	}

	start := time.Now()
	outcomes := c.runSeeds(cfg, seeds, f.parallel, start)
	rechecked := c.recheckUndecided(cfg, outcomes)
	wall := time.Since(start).Seconds()

	out := sweepJSON{Seeds: seeds.count(), Failed: []uint64{}, FaultRuns: map[string]int{}}
	var reports []string
	for _, o := range outcomes {
		out.Ops += o.ops
		out.SimSeconds += o.simSeconds
		for kind, n := range o.faults {
			if n > 0 {
				out.FaultRuns[kind]++
			}
		}
		if o.failed {
			out.Failed = append(out.Failed, o.seed)
			reports = append(reports, o.report)
		}
	}
	out.WallSeconds = wall

	fmt.Fprintf(c.stdout, "swept %d seeds (%d-%d): %d failed; %d ops, %.1f sim s in %.2f wall s (%.1f sim s/wall s, %.0f ops/wall s)\n",
		out.Seeds, seeds.first, seeds.last, len(out.Failed), out.Ops, out.SimSeconds, wall,
		perSecond(out.SimSeconds, wall), perSecond(float64(out.Ops), wall))
	fmt.Fprintf(c.stdout, "runs that drew each fault: %s\n", faultCounts(out.FaultRuns))
	for _, line := range rechecked {
		fmt.Fprintln(c.stdout, line)
	}
	if len(reports) > 0 {
		fmt.Fprintf(c.stdout, "failed seeds: %s\n", joinSeeds(out.Failed))
		for _, r := range reports {
			fmt.Fprint(c.stdout, r)
		}
	}
	if f.json {
		writeJSON(c.stdout, out)
	}
	if len(out.Failed) > 0 {
		return exitViolation
	}
	return exitOK
}

// runSeeds runs every seed of r on parallel workers, each seed its own
// sim.Run, and returns the outcomes sorted by seed. It draws progress on
// stderr as seeds finish.
func (c *cli) runSeeds(cfg config, r seedRange, parallel int, start time.Time) []seedOutcome {
	total := r.count()
	if uint64(parallel) > total {
		parallel = int(total)
	}
	// Both channels hold at most one entry per worker: the producer and
	// the workers wait on the collector, which only draws progress.
	todo := make(chan uint64, parallel)
	done := make(chan seedOutcome, parallel)
	go func() {
		for seed := r.first; ; seed++ {
			todo <- seed
			if seed == r.last { // seed++ would wrap at the top of uint64
				break
			}
		}
		close(todo)
	}()
	for range parallel {
		go func() {
			for seed := range todo {
				done <- runSeed(cfg, seed, 0)
			}
		}()
	}

	bar := newProgress(c.stderr, c.stderrIsTerminal, total, start)
	outcomes := make([]seedOutcome, 0, total)
	failures := 0
	for range total {
		o := <-done
		outcomes = append(outcomes, o)
		if o.failed {
			failures++
		}
		bar.update(uint64(len(outcomes)), failures)
	}
	bar.finish()
	slices.SortFunc(outcomes, func(a, b seedOutcome) int {
		switch {
		case a.seed < b.seed:
			return -1
		case a.seed > b.seed:
			return 1
		}
		return 0
	})
	return outcomes
}

// recheckUndecided runs again, one at a time and with recheckBudget, the
// first maxRechecks seeds of a sweep without a canary that failed only as
// undecided, and replaces their outcomes; it returns a line for each.
func (c *cli) recheckUndecided(cfg config, outcomes []seedOutcome) []string {
	if cfg.canary != "" {
		return nil // a canary's undecided history counts as caught
	}
	var lines []string
	for i, o := range outcomes {
		if !o.undecided {
			continue
		}
		if len(lines) == maxRechecks {
			lines = append(lines, fmt.Sprintf("more seeds were undecided; not rechecked beyond %d", maxRechecks))
			break
		}
		start := time.Now()
		fmt.Fprintf(c.stderr, "castsim sweep: seed %d was undecided; checking it again alone, within %v\n", o.seed, recheckBudget)
		again := runSeed(cfg, o.seed, recheckBudget)
		verdict := "passed"
		if again.failed {
			verdict = "failed"
		}
		lines = append(lines, fmt.Sprintf("seed %d: undecided in the sweep, %s when checked again alone (%.1f s)", o.seed, verdict, time.Since(start).Seconds()))
		outcomes[i] = again
	}
	return lines
}

// runSeed runs one seed of a sweep (its history checked within budget, 0:
// the sweep's --check-budget or the simulator's) and, if it fails, writes its files and prepares its
// report.
func runSeed(cfg config, seed uint64, budget time.Duration) seedOutcome {
	html := defaultHTMLPath(seed)
	opts := cfg.options(seed, html)
	if budget > 0 {
		opts.CheckBudget = budget
	}
	res, err := sim.Run(opts)
	if err != nil {
		return seedOutcome{seed: seed, failed: true,
			report: fmt.Sprintf("seed %d: the run could not complete: %v\n  replay: %s\n", seed, err, cfg.replay(seed))}
	}
	o := seedOutcome{seed: seed, ops: res.Ops, simSeconds: res.SimSeconds, faults: res.Faults, failed: failed(res), undecided: res.Undecided()}
	if !o.failed {
		return o
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d:\n", seed)
	for _, line := range strings.Split(res.Violation, "\n") {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	fmt.Fprintf(&b, "  replay: %s\n", cfg.replay(seed))
	var files strings.Builder
	writeFailureFiles(&files, &files, cfg, res, html)
	for _, line := range strings.Split(strings.TrimRight(files.String(), "\n"), "\n") {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	o.report = b.String()
	return o
}

func joinSeeds(seeds []uint64) string {
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = strconv.FormatUint(s, 10)
	}
	return strings.Join(parts, " ")
}
