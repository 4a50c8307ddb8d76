package bad

import wall "time"

// A renamed import does not hide the wall clock.
func since(t wall.Time) wall.Duration {
	return wall.Since(t) // want wall-clock
}
