package sim

import (
	"fmt"
	"sort"
	"strings"
)

// Fault kinds the simulator injects.
const (
	FaultLoss      = "loss"      // messages dropped
	FaultDuplicate = "duplicate" // messages delivered twice
	FaultDelay     = "delay"     // long delays, hence reordering
	FaultPartition = "partition" // symmetric and one-way partitions
	FaultClog      = "clog"      // swizzle-clogging: links slowed one by one, then freed in reverse
	FaultCrash     = "crash"     // machine crash (unsynced data lost) and restart
	FaultPause     = "pause"     // process pause; its clock keeps running
	FaultDrift     = "drift"     // clock rate drift within the lease bound
)

// AllFaults lists every fault kind, sorted.
var AllFaults = []string{FaultClog, FaultCrash, FaultDelay, FaultDrift, FaultDuplicate, FaultLoss, FaultPartition, FaultPause}

// FaultSet is the set of enabled fault kinds.
type FaultSet map[string]bool

// ParseFaults reads "all", "none" or a comma-separated list of kinds.
func ParseFaults(s string) (FaultSet, error) {
	set := FaultSet{}
	switch s {
	case "", "all":
		for _, f := range AllFaults {
			set[f] = true
		}
		return set, nil
	case "none":
		return set, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !knownFault(f) {
			return nil, fmt.Errorf("unknown fault %q (known: all, none, %s)", f, strings.Join(AllFaults, ", "))
		}
		set[f] = true
	}
	return set, nil
}

func knownFault(f string) bool {
	for _, k := range AllFaults {
		if k == f {
			return true
		}
	}
	return false
}

// String lists the set's kinds, sorted and comma-separated ("none" if empty).
func (s FaultSet) String() string {
	if len(s) == 0 {
		return "none"
	}
	var names []string
	for f, on := range s {
		if on {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	if len(names) == len(AllFaults) {
		return "all"
	}
	return strings.Join(names, ",")
}
