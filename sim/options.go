package sim

import (
	"time"
)

// Options configure one simulated run. Duration, Clients and Faults
// override what the run draws from its seed (see Knobs); their zero values
// (0, 0, nil) keep the draw.
type Options struct {
	Seed     uint64
	Duration time.Duration // simulated time of the fault phase; drawn in [10s, 30s]
	Clients  int           // concurrent simulated clients; drawn in [1, 40]
	Faults   FaultSet      // the fault kinds on; drawn, each kind on in 3 runs of 4
	Canary   string        // a name from Canaries, or ""
	HTMLPath string        // where to write porcupine's visualization on a violation; "" = none
	// CheckBudget bounds porcupine's search of the whole history in wall
	// time (0: check.go's budgets). castsim sweep re-checks a run that was
	// undecided among the sweep's others alone, with a larger one.
	CheckBudget time.Duration

	// knobs, when set, replace the draw (tests that stage one scenario
	// on a plain cluster: see baselineKnobs).
	knobs *Knobs
}

// Result is what one run observed. Trace is a hex hash over every delivered
// event (virtual time, from, to, message bytes): same seed and code, same
// trace.
type Result struct {
	Seed uint64 `json:"seed"`
	// Knobs are what the run drew from its seed (overrides applied).
	Knobs        Knobs          `json:"knobs"`
	Ops          int            `json:"ops"`
	AckedWrites  int            `json:"acked_writes"`
	Faults       map[string]int `json:"faults"`
	Linearizable bool           `json:"linearizable"`
	Durable      bool           `json:"durable"`
	Live         bool           `json:"live"`
	Trace        string         `json:"trace"`
	SimSeconds   float64        `json:"sim_seconds"`
	WallSeconds  float64        `json:"wall_seconds"`
	// Oracles lists the first violation of each oracle that fired (see
	// oracle.go); empty when every oracle held.
	Oracles []string `json:"oracles,omitempty"`
	// Violation says in words what failed; "" when every check passed.
	Violation string `json:"violation,omitempty"`
	// HTML is the path the visualization was written to, if any.
	HTML string `json:"html,omitempty"`
	// Trail is the last lines the roles and the simulator logged, stamped
	// with virtual time: what the cluster did before a failure.
	Trail []string `json:"-"`
}

// OK reports whether every check passed.
func (r *Result) OK() bool { return r.Linearizable && r.Durable && r.Live && len(r.Oracles) == 0 }
