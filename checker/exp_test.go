package checker

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func TestExpSteps(t *testing.T) {
	for _, nk := range []int{40, 200} {
		rng := rand.New(rand.NewPCG(1, 2))
		ops := genConcurrent(func(n int) int { return rng.IntN(n) }, 8, 4000, nk, false, 1, 2)
		comps, _ := compile(ops)
		steps := 0
		m := model
		m.Step = func(s, in, out interface{}) (bool, interface{}) {
			steps++
			return step(s.(*state), in.(*call), out.(*reply))
		}
		for _, c := range comps {
			st := time.Now()
			r := porcupine.CheckOperationsTimeout(m, c, 0)
			fmt.Println(nk, len(c), r, steps, time.Since(st))
		}
	}
}
