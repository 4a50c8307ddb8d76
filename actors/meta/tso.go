package meta

import (
	"time"

	"castkv/actors"
	"castkv/actors/wire"
)

// The timestamp oracle (TSO). Timestamps are 64 bits: milliseconds of the
// leader's clock shifted left by tsLogicalBits, plus a logical counter, and
// strictly increasing across every timestamp the group ever issues:
//
//   - The group's state holds a limit (tsLimit) that every timestamp issued
//     is below. A leader issues only from a window [from, to) it reserved
//     with a raft entry (reserve_ts) of its own term: from is the limit
//     before that entry, so its window starts above everything issued by
//     any earlier leader, and the limit is synced by a quorum before the
//     leader issues from it, so a restart never goes back.
//   - A leader issues only while a quorum confirmed its leadership recently
//     (leading), the rule that makes its lease grants safe: every timestamp
//     of an old leader is issued before the next leader is elected, so
//     before any timestamp of the next.
//   - It issues after the request arrived, so a timestamp fetched after an
//     operation began is above every timestamp of operations completed by
//     then (the design's TSO rule; the API batches only requests waiting at
//     the same time).
//
// The physical part keeps pace with real time, and it does not jump: a
// lock's TTL and a key's expiry are measured in it. A timestamp is at
// least now's milliseconds on the leader's clock shifted by tsSkew, while
// the window allows. A new leader sets tsSkew when it gets its first
// window so that its shifted clock reads where the group's timestamps
// stand (the old limit), whether its own clock is behind them or ahead:
// without the shift a clock behind made timestamps crawl on the logical
// part until it caught up, and a transaction lock's TTL never ran out
// (castsim: a meta member's clock 57 minutes ahead), and a clock ahead
// made them jump, and every key's TTL ran out at once. The skew then
// shrinks by 1% of the time that passes (tsoClock), so the timestamps
// converge on the leader's clock (NTP's slew, not its step): they run at
// most 1% fast or slow meanwhile. What a failover still adds is the
// unissued rest of the old leader's window, up to tsWindow ahead, which the
// slew takes back over a few minutes. When the clock runs ahead of the
// window, the logical part carries on until the next reservation applies.
const (
	tsLogicalBits = 18
	// tsWindow is how far beyond the current time one reservation reaches:
	// one raft entry per tsWindow/2 of issuing.
	tsWindow = 3000 << tsLogicalBits
	// maxTSWaiting bounds the GetTS requests held for a reservation;
	// beyond it they go unanswered and their senders retry.
	maxTSWaiting = 256
	// maxTSCount bounds the timestamps one GetTS may take.
	maxTSCount = 1 << 16
	// tsSlewDivisor: the skew shrinks by 1/tsSlewDivisor of the time that
	// passes (tsoClock).
	tsSlewDivisor = 100
)

type tsWait struct {
	from        actors.Addr
	id          uint64
	incarnation uint64
	count       uint64
}

// physicalTS is the smallest timestamp of now's millisecond.
func physicalTS(now time.Time) uint64 {
	ms := now.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms) << tsLogicalBits
}

// getTS answers a GetTS now if the window allows, else once the next
// reservation applies.
func (m *Meta) getTS(env actors.Env, from actors.Addr, x *wire.GetTS) {
	n := uint64(max(x.Count, 1))
	if n > maxTSCount {
		n = maxTSCount
	}
	if len(m.tsWaiting) < maxTSWaiting {
		m.tsWaiting = append(m.tsWaiting, tsWait{from, x.Id, x.Incarnation, n})
	}
	m.answerTS(env)
}

// answerTS answers the waiting GetTS requests in order while this leader's
// window has room, and reserves more when it runs low.
func (m *Meta) answerTS(env actors.Env) {
	for len(m.tsWaiting) > 0 {
		w := m.tsWaiting[0]
		first, ok := m.issueTS(w.count)
		if !ok {
			break
		}
		m.tsWaiting = m.tsWaiting[1:]
		env.Send(w.from, &wire.TSReply{Id: w.id, Incarnation: w.incarnation, First: first, Count: uint32(w.count)})
	}
	if len(m.tsWaiting) == 0 {
		m.tsWaiting = nil
	}
	m.maybeReserveTS()
}

// issueTS takes n consecutive timestamps from this leader's window.
func (m *Meta) issueTS(n uint64) (first uint64, ok bool) {
	if !m.leading(m.now) || m.tsNext == 0 {
		return 0, false
	}
	first = m.tsNext
	if p := m.tsoClock(); p > first && p+n <= m.tsEnd {
		first = p
	}
	if first+n > m.tsEnd {
		return 0, false
	}
	m.tsNext = first + n
	return first, true
}

// maybeReserveTS proposes the next window when less than half of one is
// left, ahead of time or of the clock.
func (m *Meta) maybeReserveTS() {
	if m.tsReserving || m.rn == nil || !m.wasLeader {
		return
	}
	p := m.tsoClock()
	if m.tsNext == 0 && m.tsLimit != 0 && m.cfg.Canary != CanaryTSOFromClock {
		p = m.tsLimit // a new leader's first window: from where the group's timestamps stand
	}
	if m.tsNext != 0 && m.tsEnd-m.tsNext >= tsWindow/2 && m.tsEnd >= p+tsWindow/2 {
		return
	}
	to := max(m.tsEnd, m.tsLimit, p) + tsWindow
	term := m.rn.BasicStatus().GetTerm()
	if err := m.rn.Propose(marshal(&wire.MetaCommand{ReserveTs: to, ProposerTerm: term})); err == nil {
		m.tsReserving = true
		m.tsReservedAt = m.now
	}
}

// applyReserveTS applies a reservation: the limit rises, and the leader
// that proposed it may issue from the old limit up to the new one.
func (m *Meta) applyReserveTS(env actors.Env, to, term uint64) {
	from := m.tsLimit
	m.tsLimit = max(m.tsLimit, to)
	if m.wasLeader && term == m.rn.BasicStatus().GetTerm() {
		// The first window of a leadership starts at the old limit, above
		// everything any earlier leader issued; a later one continues
		// where this leader is (nobody else issued meanwhile), so its
		// timestamps do not jump ahead by what was left of the last.
		first := m.tsNext == 0
		if first {
			m.tsNext = max(from, 1)
		}
		m.tsEnd = m.tsLimit
		if m.cfg.Canary == CanaryTSOFromClock && first {
			m.tsNext = max(physicalTS(m.now), 1) // a new window starts at the clock
		}
		if first && from != 0 && m.cfg.Canary != CanaryTSOFromClock {
			// Continue where the group's timestamps stand, at this clock's pace.
			m.tsSkew = time.Duration(int64(m.tsNext>>tsLogicalBits)-m.now.UnixMilli()) * time.Millisecond
			m.tsSlewAt = m.now
		}
		m.tsReserving = false
		m.answerTS(env)
	}
}

// retryReserveTS forgets a reservation that was not applied within two
// election timeouts (its entry was lost with a leadership), so another is
// proposed.
func (m *Meta) retryReserveTS() {
	if m.tsReserving && m.now.Sub(m.tsReservedAt) >= 2*m.cfg.ElectionTimeout {
		m.tsReserving = false
	}
	m.maybeReserveTS()
}

// grantTS issues the timestamp a lease grant carries.
func (m *Meta) grantTS() (uint64, bool) {
	ts, ok := m.issueTS(1)
	if !ok {
		m.maybeReserveTS()
	}
	return ts, ok
}

// tsoClock is this leader's clock shifted by tsSkew, as a timestamp. It
// first shrinks the skew by 1% of the time since it last did, so that the
// group's timestamps converge on the leader's clock without a jump.
func (m *Meta) tsoClock() uint64 {
	if m.tsSkew != 0 && m.now.After(m.tsSlewAt) {
		step := m.now.Sub(m.tsSlewAt) / tsSlewDivisor
		if m.tsSkew > 0 {
			m.tsSkew = max(0, m.tsSkew-step)
		} else {
			m.tsSkew = min(0, m.tsSkew+step)
		}
	}
	m.tsSlewAt = m.now
	return physicalTS(m.now.Add(m.tsSkew))
}
