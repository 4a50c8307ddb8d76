package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"castkv/sim"
)

// Defaults and bounds of the settings a run takes. The defaults are spelled
// out here, not left to the simulator's zero values, so a replay command
// always names the exact values a run used.
const (
	defaultDuration = 20 * time.Second
	defaultClients  = 5
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
}

func (s *settings) register(fs *flag.FlagSet) {
	fs.DurationVar(&s.duration, "duration", defaultDuration, "simulated time of the fault phase")
	fs.IntVar(&s.clients, "clients", defaultClients, "concurrent simulated clients")
	fs.StringVar(&s.faults, "faults", "all", "fault kinds to inject: all, none, or a comma-separated list of "+strings.Join(sim.AllFaults, ","))
	fs.StringVar(&s.canary, "canary", "", "switch on a deliberate defect (see castsim canaries)")
	fs.BoolVar(&s.json, "json", false, "end stdout with one line of JSON")
}

// config is settings checked and resolved: what every seed of an
// invocation runs with.
type config struct {
	duration time.Duration
	clients  int
	faults   sim.FaultSet
	canary   string
}

// resolve checks s; its error is bad usage.
func (s *settings) resolve() (config, error) {
	if s.duration <= 0 || s.duration > maxDuration {
		return config{}, fmt.Errorf("--duration %v is out of range (0, %v]", s.duration, maxDuration)
	}
	if s.clients < 1 || s.clients > maxClients {
		return config{}, fmt.Errorf("--clients %d is out of range [1, %d]", s.clients, maxClients)
	}
	faults, err := sim.ParseFaults(s.faults)
	if err != nil {
		return config{}, fmt.Errorf("--faults: %v", err)
	}
	if s.canary != "" && !slices.Contains(sim.Canaries, s.canary) {
		return config{}, fmt.Errorf("--canary: unknown canary %q (known: %s)", s.canary, strings.Join(sortedCanaries(), ", "))
	}
	return config{duration: s.duration, clients: s.clients, faults: faults, canary: s.canary}, nil
}

func (c config) options(seed uint64, htmlPath string) sim.Options {
	return sim.Options{
		Seed: seed, Duration: c.duration, Clients: c.clients,
		Faults: c.faults, Canary: c.canary, HTMLPath: htmlPath,
	}
}

// replay is the command line that reruns seed exactly as it ran.
func (c config) replay(seed uint64) string {
	cmd := fmt.Sprintf("go run ./cmd/castsim run --seed %d --duration %v --clients %d --faults %s",
		seed, c.duration, c.clients, c.faults)
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
