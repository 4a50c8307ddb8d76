package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"castkv/sim"
)

const seedsUsage = `usage: castsim seeds [--file F] [--seeds A-B] [--first N] [--canary NAME] [--parallel P] [--write]

Regenerates the catch lines of a seed file (see testdata/seeds.txt): for
each canary (or only --canary), the first N seeds of A-B whose run with the
canary fails with a decided verdict (a check that only ran out of time does
not count). Every other line of the file is kept as it is; the new catch
lines go at its end, one block per canary. Prints the new file, or rewrites it with --write. Seeds run
for the default duration with the default clients and every fault. Exit
status 1 if some canary is caught by fewer than N seeds of the range.

flags:
`

// seedsFlags are the flags of "castsim seeds".
type seedsFlags struct {
	file     string
	seeds    string
	first    int
	canary   string
	parallel int
	write    bool
}

func newSeedsFlags(out io.Writer) (*flag.FlagSet, *seedsFlags) {
	f := &seedsFlags{}
	fs := flag.NewFlagSet("seeds", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), seedsUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.file, "file", "testdata/seeds.txt", "the seed file")
	fs.StringVar(&f.seeds, "seeds", "1-200", "seeds to search: A-B inclusive")
	fs.IntVar(&f.first, "first", 2, "catching seeds to list per canary")
	fs.StringVar(&f.canary, "canary", "", "regenerate only this canary's lines (default: every canary's)")
	fs.IntVar(&f.parallel, "parallel", runtime.NumCPU(), "seeds run at once")
	fs.BoolVar(&f.write, "write", false, "rewrite the file instead of printing it")
	return fs, f
}

func (c *cli) seeds(args []string) int {
	fs, f := newSeedsFlags(c.stderr)
	if exit, ok := parseFlags(fs, args); !ok {
		return exit
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected arguments %q", fs.Args())
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	if f.first < 1 || uint64(f.first) > seeds.count() {
		return usageError(fs, "--first %d is out of range [1, %d]", f.first, seeds.count())
	}
	if f.parallel < 1 || f.parallel > maxParallel {
		return usageError(fs, "--parallel %d is out of range [1, %d]", f.parallel, maxParallel)
	}
	canaries := sim.Canaries
	if f.canary != "" {
		if !slices.Contains(sim.Canaries, f.canary) {
			return usageError(fs, "--canary: unknown canary %q (known: %s)", f.canary, strings.Join(sortedCanaries(), ", "))
		}
		canaries = []string{f.canary}
	}
	old, err := os.ReadFile(f.file)
	if err != nil {
		fmt.Fprintf(c.stderr, "castsim seeds: %v\n", err)
		return exitUsage
	}
	entries, err := sim.ParseSeedFile(bytes.NewReader(old))
	if err != nil {
		fmt.Fprintf(c.stderr, "castsim seeds: %s: %v\n", f.file, err)
		return exitUsage
	}

	catchLine := map[int]bool{} // lines to regenerate
	for _, e := range entries {
		if slices.Contains(canaries, e.Canary) {
			catchLine[e.Line] = true
		}
	}
	var out strings.Builder
	for i, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if !catchLine[i+1] {
			out.WriteString(line + "\n")
		}
	}
	exit := exitOK
	for _, canary := range canaries {
		found := firstCatches(canary, seeds, f.first, f.parallel)
		fmt.Fprintf(c.stderr, "castsim seeds: %s caught by %d of the first seeds of %d-%d\n", canary, len(found), seeds.first, seeds.last)
		if len(found) < f.first {
			fmt.Fprintf(c.stderr, "castsim seeds: %s: only %d seeds of %d-%d catch it, want %d\n", canary, len(found), seeds.first, seeds.last, f.first)
			exit = exitViolation
		}
		for _, e := range found {
			out.WriteString(e.String() + "\n")
		}
	}

	if !f.write {
		fmt.Fprint(c.stdout, out.String())
		return exit
	}
	if err := os.WriteFile(f.file, []byte(out.String()), 0o644); err != nil {
		fmt.Fprintf(c.stderr, "castsim seeds: %v\n", err)
		return exitViolation
	}
	return exit
}

// firstCatches runs the seeds of r in order, parallel at a time, until n of
// them catch canary with a decided verdict, and returns those n (fewer if
// the range runs out) as catch entries.
func firstCatches(canary string, r seedRange, n, parallel int) []sim.SeedEntry {
	var found []sim.SeedEntry
	for next := r.first; len(found) < n; {
		batch := make([]*sim.Result, 0, parallel)
		for s := next; len(batch) < parallel; s++ {
			batch = append(batch, nil)
			if s == r.last {
				break
			}
		}
		var wg sync.WaitGroup
		for i := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := sim.SeedEntry{Seed: next + uint64(i), Canary: canary}
				res, err := sim.Run(e.Options()) // the duration is drawn from the seed
				if err != nil {
					panic(fmt.Sprintf("castsim seeds: %s: %v", e.Replay(), err)) // only a bad canary name fails Run
				}
				batch[i] = res
			}()
		}
		wg.Wait()
		for _, res := range batch {
			if !res.OK() && !res.Undecided() && len(found) < n {
				found = append(found, sim.SeedEntry{Seed: res.Seed, Duration: res.Knobs.Duration, Canary: canary, Note: sim.CatchNote(res)})
			}
		}
		last := next + uint64(len(batch)) - 1
		if last == r.last {
			break
		}
		next = last + 1
	}
	return found
}
