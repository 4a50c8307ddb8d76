package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"castkv/sim"
)

const runUsage = `usage: castsim run --seed N [--duration D] [--clients C] [--faults all|none|LIST]
                    [--canary NAME] [--check-budget D] [--html FILE] [--json]

Runs one seed. The seed draws every knob of the run (the roles' timeouts
and limits, the workload, the fault mix; --duration, --clients and
--faults override theirs), and the run prints them. On a violation it
prints the violation, the command that replays it, and writes porcupine's
picture of the history (--html, default castsim-seed-N.html) and the
cluster's last log lines (the same name, .log).

flags:
`

// runFlags are the flags of "castsim run".
type runFlags struct {
	settings
	seed uint64
	html string
}

func newRunFlags(out io.Writer) (*flag.FlagSet, *runFlags) {
	f := &runFlags{}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runUsage)
		fs.PrintDefaults()
	}
	fs.Uint64Var(&f.seed, "seed", 0, "the seed to run (required)")
	f.settings.register(fs)
	fs.StringVar(&f.html, "html", "", "where to write the history's picture on a violation (default castsim-seed-N.html)")
	return fs, f
}

func (c *cli) run(args []string) int {
	fs, f := newRunFlags(c.stderr)
	if exit, ok := parseFlags(fs, args); !ok {
		return exit
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected arguments %q", fs.Args())
	}
	if !isSet(fs, "seed") {
		return usageError(fs, "missing --seed")
	}
	cfg, err := f.settings.resolve(fs)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	html := f.html
	if html == "" {
		html = defaultHTMLPath(f.seed)
	} else if dir := filepath.Dir(html); !isDir(dir) {
		// The simulator cannot report a failed write of the picture, so
		// find out now rather than after a failing run.
		return usageError(fs, "--html %s: directory %s does not exist", html, dir)
	}

	res, err := sim.Run(cfg.options(f.seed, html))
	if err != nil {
		fmt.Fprintf(c.stderr, "castsim run: seed %d: %v\n", f.seed, err)
		return exitViolation
	}
	fmt.Fprintln(c.stdout, summary(res))
	fmt.Fprint(c.stdout, knobsText(res))
	exit := exitOK
	if failed(res) {
		exit = exitViolation
		c.reportFailure(cfg, res, html)
	}
	if f.json {
		if res.Faults == nil {
			res.Faults = map[string]int{}
		}
		writeJSON(c.stdout, res)
	}
	return exit
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// failed reports whether res failed a check. A violation the simulator
// described counts even if the three verdicts read true.
func failed(res *sim.Result) bool { return !res.OK() || res.Violation != "" }

// summary is the one line "castsim run" prints for every seed.
func summary(res *sim.Result) string {
	return fmt.Sprintf("seed %d: %d ops, %d acked writes, faults %s, linearizable=%t durable=%t live=%t, trace %s, %.1f sim s in %.2f wall s (%.1f sim s/wall s)",
		res.Seed, res.Ops, res.AckedWrites, faultCounts(res.Faults),
		res.Linearizable, res.Durable, res.Live, res.Trace,
		res.SimSeconds, res.WallSeconds, perSecond(res.SimSeconds, res.WallSeconds))
}

// knobsText is what the seed drew, one group a line, indented under the
// summary.
func knobsText(res *sim.Result) string {
	var b strings.Builder
	b.WriteString("knobs:\n")
	for _, line := range strings.Split(res.Knobs.String(), "\n") {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	return b.String()
}

// faultCounts renders injected faults by kind, sorted: "crash=2 loss=31".
func faultCounts(faults map[string]int) string {
	var kinds []string
	for kind, n := range faults {
		if n > 0 {
			kinds = append(kinds, kind)
		}
	}
	if len(kinds) == 0 {
		return "none"
	}
	slices.Sort(kinds)
	parts := make([]string, len(kinds))
	for i, kind := range kinds {
		parts[i] = kind + "=" + strconv.Itoa(faults[kind])
	}
	return strings.Join(parts, " ")
}

func perSecond(x, wallSeconds float64) float64 {
	if wallSeconds <= 0 {
		return 0
	}
	return x / wallSeconds
}

// reportFailure prints what a failed seed needs to be understood and
// replayed, and writes its trail beside its picture.
func (c *cli) reportFailure(cfg config, res *sim.Result, html string) {
	w := c.stdout
	fmt.Fprintf(w, "VIOLATION (seed %d):\n", res.Seed)
	for _, line := range strings.Split(res.Violation, "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintf(w, "replay: %s\n", cfg.replay(res.Seed))
	writeFailureFiles(w, c.stderr, cfg, res, html)
}

// writeFailureFiles names the picture of a failed seed's history and writes
// its trail beside it, printing both paths.
func writeFailureFiles(w, errw io.Writer, cfg config, res *sim.Result, html string) {
	if res.HTML != "" {
		fmt.Fprintf(w, "html:   %s\n", res.HTML)
	} else if res.Linearizable && res.Durable {
		// The simulator draws the history only when the history fails
		// the linearizability check; a broken invariant, a liveness
		// failure or a spent work budget alone has nothing to draw.
		fmt.Fprintf(w, "html:   none (the history passed the linearizability check; see the trail)\n")
	} else {
		fmt.Fprintf(w, "html:   none (the violation's \"picture:\" line says why)\n")
	}
	trail := trailPath(html)
	if err := os.WriteFile(trail, trailFile(cfg, res), 0o644); err != nil {
		fmt.Fprintf(errw, "castsim: seed %d: writing trail: %v\n", res.Seed, err)
		return
	}
	fmt.Fprintf(w, "trail:  %s\n", trail)
}

func defaultHTMLPath(seed uint64) string { return fmt.Sprintf("castsim-seed-%d.html", seed) }

// trailPath puts the trail beside the picture: x.html → x.log.
func trailPath(html string) string {
	p := strings.TrimSuffix(html, filepath.Ext(html)) + ".log"
	if p == html {
		p += ".log"
	}
	return p
}

// trailFile is the trail with a header that says which run it came from.
func trailFile(cfg config, res *sim.Result) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# castsim seed %d, trace %s\n", res.Seed, res.Trace)
	fmt.Fprintf(&b, "# replay: %s\n", cfg.replay(res.Seed))
	for _, line := range strings.Split(res.Knobs.String(), "\n") {
		fmt.Fprintf(&b, "# knobs %s\n", line)
	}
	for _, line := range strings.Split(res.Violation, "\n") {
		fmt.Fprintf(&b, "# violation: %s\n", line)
	}
	fmt.Fprintf(&b, "# last %d log lines, virtual time:\n", len(res.Trail))
	for _, line := range res.Trail {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// writeJSON writes v as the last line of w.
func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs, maps and slices go through here.
		panic(fmt.Sprintf("castsim: encoding %T as JSON: %v", v, err))
	}
	fmt.Fprintf(w, "%s\n", b)
}
