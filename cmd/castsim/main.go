// Command castsim runs castkv's deterministic simulator (package castkv/sim)
// from the shell.
//
//	castsim run --seed N [--duration D] [--clients C] [--faults all|none|LIST] [--canary NAME] [--check-budget D] [--html FILE] [--json]
//	castsim sweep --seeds A-B [--parallel P] [--duration D] [--clients C] [--faults ...] [--canary NAME] [--check-budget D] [--json]
//	castsim canaries
//	castsim seeds [--file F] [--seeds A-B] [--first N] [--canary NAME] [--parallel P] [--write]
//
// Each seed draws the run's knobs (sim.Knobs); the flags override some of
// them. A failing seed is reported the way the simulator is meant to be used: the
// violation, the command line that replays it exactly, porcupine's picture
// of the history, and the last lines the cluster logged before it.
//
// Exit status: 0 when every check passed, 1 when a seed failed a check (for
// a canary sweep that is the expected outcome: the defect was caught), 2 on
// bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit statuses.
const (
	exitOK        = 0
	exitViolation = 1
	exitUsage     = 2
)

// usageText is printed for "castsim help" and on bad usage.
const usageText = `usage: castsim <command> [flags]

commands:
  run       run one seed
            castsim run --seed N [--duration D] [--clients C] [--faults all|none|LIST]
                        [--canary NAME] [--html FILE] [--json]
  sweep     run a range of seeds in parallel
            castsim sweep --seeds A-B [--parallel P] [--duration D] [--clients C]
                          [--faults ...] [--canary NAME] [--json]
  canaries  list the deliberate defects --canary can switch on
  seeds     regenerate the catch lines of testdata/seeds.txt
            castsim seeds [--file F] [--seeds A-B] [--first N] [--canary NAME]
                          [--parallel P] [--write]
  help      show this, or "castsim help <command>" for a command's flags

exit status: 0 every check passed, 1 a seed failed a check, 2 bad usage
`

// cli is one invocation's surroundings, so the commands never touch os.*
// directly.
type cli struct {
	stdout, stderr io.Writer
	// stderrIsTerminal selects the \r-redrawn progress bar over one line per
	// tenth of a sweep.
	stderrIsTerminal bool
}

func main() {
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, stderrIsTerminal: isTerminal(os.Stderr)}
	os.Exit(c.main(os.Args[1:]))
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (c *cli) main(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usageText)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return c.run(rest)
	case "sweep":
		return c.sweep(rest)
	case "canaries":
		return c.canaries(rest)
	case "seeds":
		return c.seeds(rest)
	case "help", "-h", "-help", "--help":
		return c.help(rest)
	default:
		fmt.Fprintf(c.stderr, "castsim: unknown command %q\n\n%s", cmd, usageText)
		return exitUsage
	}
}

func (c *cli) help(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stdout, usageText)
		return exitOK
	}
	var fs *flag.FlagSet
	switch args[0] {
	case "run":
		fs, _ = newRunFlags(c.stdout)
	case "sweep":
		fs, _ = newSweepFlags(c.stdout)
	case "seeds":
		fs, _ = newSeedsFlags(c.stdout)
	case "canaries":
		fmt.Fprintln(c.stdout, "usage: castsim canaries")
		return exitOK
	default:
		fmt.Fprintf(c.stderr, "castsim help: unknown command %q\n\n%s", args[0], usageText)
		return exitUsage
	}
	fs.Usage()
	return exitOK
}

func (c *cli) canaries(args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(c.stderr, "castsim canaries: unexpected arguments %q\nusage: castsim canaries\n", args)
		return exitUsage
	}
	for _, name := range sortedCanaries() {
		fmt.Fprintln(c.stdout, name)
	}
	return exitOK
}

// parseFlags parses args into fs and turns the outcome into an exit status
// when parsing cannot go on: -h asked for help (0), anything else is bad
// usage (2; the flag package has already said what and printed the usage).
func parseFlags(fs *flag.FlagSet, args []string) (exit int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	default:
		return exitUsage, false
	}
}

// usageError reports bad usage found after parsing and prints fs's usage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "castsim %s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}
