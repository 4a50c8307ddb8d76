package wire

// Timestamps from meta's TSO are physical milliseconds (unix time on the
// meta leader's clock) shifted left by TSLogicalBits, plus a logical
// counter. A key's expiry is kept in those milliseconds.
const TSLogicalBits = 18

// TSMillis is a timestamp's physical part: unix milliseconds of TSO time.
func TSMillis(ts uint64) int64 { return int64(ts >> TSLogicalBits) }

// Expired reports whether a key expiring at expireMs (0: never) is gone at
// timestamp ts. Every replica and every read decides expiry this way, by a
// timestamp's place in the order, never by its own clock.
func Expired(expireMs int64, ts uint64) bool {
	return expireMs != 0 && TSMillis(ts) >= expireMs
}
