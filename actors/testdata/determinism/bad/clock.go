package bad

import "time"

func clocks(d time.Duration) time.Time {
	now := time.Now()            // want wall-clock
	_ = time.Since(now)          // want wall-clock
	_ = time.Until(now)          // want wall-clock
	time.Sleep(d)                // want wall-clock
	<-time.After(d)              // want wall-clock channel
	time.AfterFunc(d, func() {}) // want wall-clock
	_ = time.Tick(d)             // want wall-clock
	_ = time.NewTimer(d)         // want wall-clock
	_ = time.NewTicker(d)        // want wall-clock
	clock := time.Now            // want wall-clock
	return clock()
}
