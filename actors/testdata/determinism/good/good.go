// Package good looks like code that breaks the determinism rules but does
// not: determinism_test.go expects no report here.
package good

import (
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"
)

type acks map[uint64]bool

type replica struct {
	acked    acks
	deadline time.Time
	rng      *rand.Rand
	log      *slog.Logger
}

func newReplica(seed uint64, log *slog.Logger) *replica {
	return &replica{
		acked: acks{},
		rng:   rand.New(rand.NewPCG(seed, 0)),
		log:   log,
	}
}

func (r *replica) tick(now time.Time, leaseTimeout time.Duration) bool {
	expired := now.After(r.deadline) || now.Sub(r.deadline) > leaseTimeout
	if expired {
		r.deadline = now.Add(leaseTimeout + time.Duration(r.rng.IntN(10))*time.Millisecond)
		r.log.Info("lease expired", "deadline", r.deadline)
	}
	_ = rand.NewZipf(r.rng, 1.1, 1, 100).Uint64()
	return expired
}

func (r *replica) summary() string {
	acked := 0
	// order-independent: only counts
	for _, ok := range r.acked {
		if ok {
			acked++
		}
	}
	for seq := range r.acked { // order-independent: deletes every entry
		delete(r.acked, seq)
	}
	var out []string
	for _, seq := range slices.Sorted(maps.Keys(r.acked)) {
		out = append(out, fmt.Sprint(seq))
	}
	for i := range 3 {
		out = append(out, fmt.Sprint(i))
	}
	return fmt.Sprintf("%d acked: %v", acked, out)
}
