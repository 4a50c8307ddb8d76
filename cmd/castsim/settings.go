package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"castkv/sim"
)

// Bounds of the settings a run takes. Unset, --duration, --clients and
// --faults are drawn from each seed with the rest of its knobs (sim.Knobs);
// a replay command names only the flags that were set, since the seed
// draws the rest again.
const (
	// maxDuration and maxClients bound one run's simulated time and
	// memory, so a typo cannot turn into a run that never ends.
	maxDuration = 24 * time.Hour
	maxClients  = 1000
)

// settings are the flags run and sweep share: everything that affects a
// seed's outcome.
type settings struct {
	duration time.Duration
	clients  int
	faults   string
	canary   string
	json     bool
	// checkBudget bounds porcupine's search per run, in wall time.
	checkBudget time.Duration
}

func (s *settings) register(fs *flag.FlagSet) {
	fs.DurationVar(&s.duration, "duration", 0, "simulated time of the fault phase (default: drawn from the seed, 10s-30s)")
	fs.IntVar(&s.clients, "clients", 0, "concurrent simulated clients (default: drawn from the seed, 1-40)")
	fs.StringVar(&s.faults, "faults", "", "fault kinds to inject: all, none, or a comma-separated list of "+strings.Join(sim.AllFaults, ",")+
		" (default: drawn from the seed, each kind on in 3 runs of 4)")
	fs.StringVar(&s.canary, "canary", "", "switch on a deliberate defect (see castsim canaries)")
	fs.BoolVar(&s.json, "json", false, "end stdout with one line of JSON")
	fs.DurationVar(&s.checkBudget, "check-budget", 0, "wall time the linearizability check of one run may take before the run fails as undecided (default: 60s, or 10s with a canary or another failure)")
}

// config is settings checked and resolved: what every seed of an
// invocation runs with. Zero duration and clients and nil faults leave
// them to each seed's draw.
type config struct {
	duration time.Duration
	clients  int
	faults   sim.FaultSet
	canary   string
	// checkBudget: 0 leaves it to the simulator.
	checkBudget time.Duration
}

// resolve checks the flags of fs that were set; its error is bad usage.
func (s *settings) resolve(fs *flag.FlagSet) (config, error) {
	cfg := config{canary: s.canary}
	if isSet(fs, "check-budget") {
		if s.checkBudget <= 0 || s.checkBudget > maxDuration {
			return config{}, fmt.Errorf("--check-budget %v is out of range (0, %v]", s.checkBudget, maxDuration)
		}
		cfg.checkBudget = s.checkBudget
	}
	if isSet(fs, "duration") {
		if s.duration <= 0 || s.duration > maxDuration {
			return config{}, fmt.Errorf("--duration %v is out of range (0, %v]", s.duration, maxDuration)
		}
		cfg.duration = s.duration
	}
	if isSet(fs, "clients") {
		if s.clients < 1 || s.clients > maxClients {
			return config{}, fmt.Errorf("--clients %d is out of range [1, %d]", s.clients, maxClients)
		}
		cfg.clients = s.clients
	}
	if isSet(fs, "faults") {
		faults, err := sim.ParseFaults(s.faults)
		if err != nil {
			return config{}, fmt.Errorf("--faults: %v", err)
		}
		cfg.faults = faults
	}
	if s.canary != "" && !slices.Contains(sim.Canaries, s.canary) {
		return config{}, fmt.Errorf("--canary: unknown canary %q (known: %s)", s.canary, strings.Join(sortedCanaries(), ", "))
	}
	return cfg, nil
}

func (c config) options(seed uint64, htmlPath string) sim.Options {
	return sim.Options{
		Seed: seed, Duration: c.duration, Clients: c.clients,
		Faults: c.faults, Canary: c.canary, HTMLPath: htmlPath, CheckBudget: c.checkBudget,
	}
}

// replay is the command line that reruns seed exactly as it ran: the seed
// and the flags that overrode its draw.
func (c config) replay(seed uint64) string {
	cmd := fmt.Sprintf("go run ./cmd/castsim run --seed %d", seed)
	if c.duration != 0 {
		cmd += fmt.Sprintf(" --duration %v", c.duration)
	}
	if c.clients != 0 {
		cmd += fmt.Sprintf(" --clients %d", c.clients)
	}
	if c.faults != nil {
		cmd += " --faults " + c.faults.String()
	}
	if c.canary != "" {
		cmd += " --canary " + c.canary
	}
	return cmd
}

func sortedCanaries() []string {
	names := slices.Clone(sim.Canaries)
	slices.Sort(names)
	return names
}
