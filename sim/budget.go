package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"castkv/actors"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A run's work budget. A protocol that resends without end (a catch-up that
// sends the same 1 MiB of Prepares on every ack, a ping-pong of Prepares)
// makes a run deliver hundreds of MB at a crawl of virtual time: seed 195
// of the ack-before-durable canary delivered 478 MB by 25 virtual seconds
// after 20 wall seconds and had not finished after half an hour, holding
// 4 GB. The budget stops such a run and fails it, deterministically: it
// counts what was delivered, not wall time. Clean runs of seeds 1-60
// delivered at most 10 MB and 223k messages, at most 31 times the bytes
// the clients sent; the allowances below leave room for runs that write far
// more, since they scale with what clients sent.
var defaultBudget = budget{
	floorBytes:     64 << 20,
	bytesPerClient: 200,
	floorEvents:    2_000_000,
	eventsPerReq:   200,
}

// budget is what a run may deliver: floorBytes plus bytesPerClient for
// each byte clients sent, and floorEvents plus eventsPerReq events for each
// client request.
type budget struct {
	floorBytes, bytesPerClient int64
	floorEvents, eventsPerReq  int
}

// work is what a run has cost the simulator so far.
type work struct {
	limit                     budget // the zero value: defaultBudget
	events, clientRequests    int
	deliveredBytes, fromBytes int64 // fromBytes: sent by clients
	// byFlow is the bytes delivered per direction and message type, to
	// name a storm's source.
	byFlow map[flow]int64
	// exhausted says how the budget ran out; "" while it has not.
	exhausted string
}

// runUntil runs events up to virtual time t, one step at a time, unless
// the run's work budget runs out; from then on it runs nothing, so the
// rest of the run (heal, restart, final reads) passes in no time and the
// check sees the history up to the moment the budget ran out.
func (r *runner) runUntil(t time.Duration) {
	w, k := r.w, &r.work
	if k.limit == (budget{}) {
		k.limit = defaultBudget
	}
	for k.exhausted == "" && len(w.events) > 0 && w.events[0].at <= t {
		if e := w.events[0]; e.kind == evDeliver {
			k.deliveredBytes += int64(len(e.data))
			if k.byFlow == nil {
				k.byFlow = map[flow]int64{}
			}
			k.byFlow[flow{e.from, e.to, e.msgName}] += int64(len(e.data))
			if from := w.byAddr[e.from]; from != nil && from.kind == "client" {
				k.fromBytes += int64(len(e.data))
				k.clientRequests++
			}
		}
		k.events++
		w.step(t)
		k.exhausted = k.overrun(w.now)
	}
	if k.exhausted == "" && w.now < t {
		w.now = t
	}
}

// overrun describes how k exceeds the budget at virtual time now, or is "".
func (k *work) overrun(now time.Duration) string {
	l := &k.limit
	maxBytes := l.floorBytes + l.bytesPerClient*k.fromBytes
	maxEvents := l.floorEvents + l.eventsPerReq*k.clientRequests
	if k.deliveredBytes <= maxBytes && k.events <= maxEvents {
		return ""
	}
	return fmt.Sprintf("work budget: by %v the cluster had delivered %.1f MB in %d events for %d client requests of %.2f MB "+
		"(budget %.0f MB + %dx the client bytes, %d events + %d per request): a resend storm? The run was stopped there; most bytes: %s",
		now.Round(time.Millisecond), float64(k.deliveredBytes)/1e6, k.events, k.clientRequests, float64(k.fromBytes)/1e6,
		float64(l.floorBytes)/1e6, l.bytesPerClient, l.floorEvents, l.eventsPerReq, k.topFlows(3))
}

// flow is one direction and type of message.
type flow struct {
	from, to actors.Addr
	msg      protoreflect.FullName
}

func (f flow) String() string { return fmt.Sprintf("%s->%s %s", f.from, f.to, f.msg) }

// topFlows names the n flows that delivered the most bytes.
func (k *work) topFlows(n int) string {
	flows := make([]flow, 0, len(k.byFlow))
	for f := range k.byFlow {
		flows = append(flows, f)
	}
	sort.Slice(flows, func(i, j int) bool {
		if k.byFlow[flows[i]] != k.byFlow[flows[j]] {
			return k.byFlow[flows[i]] > k.byFlow[flows[j]]
		}
		return flows[i].String() < flows[j].String()
	})
	var parts []string
	for _, f := range flows[:min(n, len(flows))] {
		parts = append(parts, fmt.Sprintf("%s %.1f MB", f, float64(k.byFlow[f])/1e6))
	}
	return strings.Join(parts, ", ")
}

// release closes every machine's store. A run that left them open would
// keep pebble's goroutines, memtables and in-memory files alive for the
// life of the process: a 200-seed sweep grew by ~7 MB and 30 goroutines
// per seed.
func (r *runner) release() {
	for _, m := range r.w.machines {
		if m.db != nil {
			_ = m.db.Close() // the run is over; nothing reads this disk again
			m.db = nil
		}
	}
}
