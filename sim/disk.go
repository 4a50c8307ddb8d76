package sim

import (
	"encoding/binary"
	"time"

	"castkv/actors"
	"castkv/actors/wire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// diskState is what makes a machine busy after a handler: fsyncs on a slow
// disk, and a stall (a stop-the-world pause that hit mid-handler).
type diskState struct {
	// syncs counts the syncs the role asked its store for (Store.OnSync):
	// on the role's own call path, so the count a handler sees is the same
	// in every run, unlike pebble's WAL fsyncs, some of which its
	// background flushes make at times no run repeats.
	syncs int64
	// syncLatency is each fsync's cost while the disk is slow; 0 is fast.
	syncLatency time.Duration

	inHandler bool
	syncsBase int64 // syncs when the running handler began
	// stallNext arms a stall of the next handler that handles a message
	// named stallOn ("" = any): its messages leave stallNext late and the
	// machine stays busy as long.
	stallNext time.Duration
	stallOn   protoreflect.FullName
	stall     time.Duration // the running handler's stall

	// persistArmed: a role asked for durability and the sync that answers
	// it is running (see persist).
	persistArmed bool
}

// persist is the runtime's side of store.Persist: a sync that takes
// syncTime, then a wire.Persisted to the role naming every write it
// covered. Requests made while it runs ride on it (group commit). The sync
// happens when it ends, so a crash before then loses exactly the writes
// the role was not told are durable.
func (m *machine) persist(uint64) {
	if m.disk.persistArmed {
		return
	}
	m.disk.persistArmed = true
	incarnation := m.incarnation
	d := m.syncTime()
	m.w.at(m.w.now+d, func() { m.runPersist(incarnation) })
	if m.w.onPersist != nil {
		m.w.onPersist(m, d)
	}
}

// syncTime is how long one sync takes: drawn from the run's disk knobs,
// plus the slow-disk latency while that fault is on.
func (m *machine) syncTime() time.Duration {
	d := m.w.syncMax / 4
	if span := m.w.syncMax - d; span > 0 {
		d += time.Duration(m.w.rng.Int64N(int64(span) + 1))
	}
	if m.disk.syncLatency > 0 {
		m.w.faults[CountSlowSyncs]++
		d += m.disk.syncLatency
	}
	return d
}

func (m *machine) runPersist(incarnation uint64) {
	if !m.up || m.incarnation != incarnation {
		return // the crash took the sync with it
	}
	if m.w.now < m.pausedUntil {
		// A stopped process syncs nothing.
		m.w.at(m.pausedUntil, func() { m.runPersist(incarnation) })
		return
	}
	m.disk.persistArmed = false
	var point uint64
	m.guard(func() {
		var err error
		if point, err = m.st.SyncWritten(); err != nil {
			panic(err)
		}
	})
	if !m.up {
		return
	}
	msg := &wire.Persisted{Point: point}
	m.w.hashEvent(&event{at: m.w.now, from: m.addr, to: m.addr, msgName: msg.ProtoReflect().Descriptor().FullName()}, binary.LittleEndian.AppendUint64(nil, point))
	m.handle(m.addr, msg)
}

func (m *machine) beginHandler(msg actors.Msg) {
	d := &m.disk
	d.inHandler = true
	d.syncsBase = d.syncs
	d.stall = 0
	if d.stallNext > 0 && msg != nil && (d.stallOn == "" || d.stallOn == msg.ProtoReflect().Descriptor().FullName()) {
		d.stall, d.stallNext = d.stallNext, 0
		m.w.faults[CountStall]++
		m.w.logf("fault: %s stalls for %v handling %s", m.addr, d.stall, msg.ProtoReflect().Descriptor().FullName())
	}
}

// busy is how long the running handler has kept the machine so far: its
// messages leave that much later than the handler began.
func (m *machine) busy() time.Duration {
	d := &m.disk
	if !d.inHandler {
		return 0
	}
	return d.stall + time.Duration(d.syncs-d.syncsBase)*d.syncLatency
}

// endHandler keeps the machine busy, like a pause, for as long as the
// handler's fsyncs and stall took: its clock runs on, deliveries wait.
func (m *machine) endHandler() {
	d := &m.disk
	if d.syncLatency > 0 {
		if n := d.syncs - d.syncsBase; n > 0 {
			m.w.faults[CountSlowSyncs] += int(n)
		}
	}
	busy := m.busy()
	d.inHandler, d.stall = false, 0
	if busy > 0 && m.up {
		m.pausedUntil = max(m.pausedUntil, m.w.now+busy)
	}
}
