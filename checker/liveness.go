package checker

import "fmt"

// CheckLiveness checks that service came back within bound after faults
// stopped at from (virtual nanoseconds): every op invoked at or after
// from+bound succeeded (neither Unknown nor an error, but one that is an
// answer about the data: DefiniteError), and at least one op
// was invoked then, so the check cannot pass on an idle history. When it
// fails, why describes the earliest offending op.
func CheckLiveness(ops []Op, from, bound int64) (ok bool, why string) {
	deadline := from + bound
	first := -1
	seen := 0
	for i := range ops {
		op := &ops[i]
		if op.Call < deadline {
			continue
		}
		seen++
		if !op.Unknown && (op.Output.Kind != OutErr || DefiniteError(op)) {
			continue
		}
		if first < 0 || op.Call < ops[first].Call {
			first = i
		}
	}
	if seen == 0 {
		return false, fmt.Sprintf("no op was invoked at or after %s (faults stopped at %s, bound %s): nothing shows that service recovered",
			describeTime(deadline), describeTime(from), describeTime(bound))
	}
	if first < 0 {
		return true, ""
	}
	op := &ops[first]
	return false, fmt.Sprintf("op #%d by client %d invoked at %s, %s after faults stopped at %s (bound %s), did not succeed: %s",
		first, op.Client, describeTime(op.Call), describeTime(op.Call-from), describeTime(from), describeTime(bound), op)
}
