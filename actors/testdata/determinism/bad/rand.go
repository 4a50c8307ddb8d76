package bad

import (
	crand "crypto/rand" // want global-rand
	mrand "math/rand"   // want global-rand
	"math/rand/v2"
)

func draws(seed uint64) int {
	r := rand.New(rand.NewPCG(seed, 0)) // seeded: fine
	_ = crand.Reader
	_ = mrand.Intn(3)
	rand.Shuffle(3, func(i, j int) {})             // want global-rand
	return rand.IntN(10) + rand.N(10) + r.IntN(10) // want global-rand global-rand
}
