package sim

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A seed file (testdata/seeds.txt) says what each listed seed does, one
// seed a line, with its knobs and faults drawn from the seed:
//
//	<seed> <duration> pass <note>
//	<seed> <duration> catch <canary> <note>
//
// "pass": the seed must pass every check (it once found a bug, or it
// exercises a hard path). "catch": with the canary switched on, the seed
// must fail a check. The note says why the seed is there. Lines that are
// blank or start with # are comments.
type SeedEntry struct {
	Seed     uint64
	Duration time.Duration
	Canary   string // "" for a seed that must pass
	Note     string
	Line     int // in the file, from 1; 0 for an entry not read from one
}

const (
	seedPass  = "pass"
	seedCatch = "catch"
)

// ParseSeedFile reads a seed file. Its error names the offending line.
func ParseSeedFile(r io.Reader) ([]SeedEntry, error) {
	var entries []SeedEntry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseSeedLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %v", n, line, err)
		}
		e.Line = n
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return entries, nil
}

// IsSeedEntry reports whether a line of a seed file is an entry, not a
// comment.
func IsSeedEntry(line string) bool {
	line = strings.TrimSpace(line)
	return line != "" && !strings.HasPrefix(line, "#")
}

func parseSeedLine(line string) (SeedEntry, error) {
	var e SeedEntry
	f := strings.Fields(line)
	if len(f) < 4 {
		return e, fmt.Errorf(`want "<seed> <duration> pass <note>" or "<seed> <duration> catch <canary> <note>"`)
	}
	var err error
	if e.Seed, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return e, fmt.Errorf("seed %q: %v", f[0], err)
	}
	if e.Duration, err = time.ParseDuration(f[1]); err != nil || e.Duration <= 0 {
		return e, fmt.Errorf("duration %q: want a positive duration such as 20s", f[1])
	}
	rest := f[3:]
	switch f[2] {
	case seedPass:
	case seedCatch:
		if e.Canary = f[3]; !slices.Contains(Canaries, e.Canary) {
			return e, fmt.Errorf("unknown canary %q (known: %s)", e.Canary, strings.Join(Canaries, ", "))
		}
		if rest = f[4:]; len(rest) == 0 {
			return e, fmt.Errorf("no note: say what the seed catches")
		}
	default:
		return e, fmt.Errorf("%q: want pass or catch", f[2])
	}
	e.Note = strings.Join(rest, " ")
	return e, nil
}

// String is e as a line of a seed file.
func (e SeedEntry) String() string {
	if e.Canary == "" {
		return fmt.Sprintf("%d %v %s %s", e.Seed, e.Duration, seedPass, e.Note)
	}
	return fmt.Sprintf("%d %v %s %s %s", e.Seed, e.Duration, seedCatch, e.Canary, e.Note)
}

// Options are the options of e's run.
func (e SeedEntry) Options() Options {
	// Everything but the duration is drawn from the seed, faults included,
	// as castsim sweep draws them.
	return Options{Seed: e.Seed, Duration: e.Duration, Canary: e.Canary}
}

// Replay is the castsim command line that runs e.
func (e SeedEntry) Replay() string {
	cmd := fmt.Sprintf("go run ./cmd/castsim run --seed %d --duration %v", e.Seed, e.Duration)
	if e.Canary != "" {
		cmd += " --canary " + e.Canary
	}
	return cmd
}

// Verdict says whether res, a run of e, did what e says (nil) or how it
// did not.
func (e SeedEntry) Verdict(res *Result) error {
	switch {
	case e.Canary == "" && !res.OK():
		return fmt.Errorf("seed %d must pass (%s) but failed: %s", e.Seed, e.Note, res.Violation)
	case e.Canary != "" && res.OK():
		return fmt.Errorf("seed %d must catch canary %s (%s) but passed", e.Seed, e.Canary, e.Note)
	}
	return nil
}

// CatchNote is the note of a catch entry made from res: the first line of
// its violation, cut short.
func CatchNote(res *Result) string {
	first, _, _ := strings.Cut(res.Violation, "\n")
	return truncate(strings.Join(strings.Fields(first), " "), maxCatchNoteBytes)
}

const maxCatchNoteBytes = 160
