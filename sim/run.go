package sim

import "errors"

// Canaries are the deliberate defects a run can switch on; each must be
// caught by a seed sweep.
var Canaries = []string{"ack-before-persist", "commit-on-majority", "ignore-lease", "read-secondary"}

// Run executes one seeded simulation and checks its history.
func Run(opts Options) (*Result, error) {
	return nil, errors.New("sim.Run: not built yet")
}
