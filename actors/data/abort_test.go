package data

import (
	"testing"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/roletest"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// Rule abort: a primary asked to settle an op it never sequenced records
// that the op never ran, and a copy of the op arriving later (a duplicate,
// or an attempt held up in the network) gets that answer and writes
// nothing. An op it did sequence settles to its real result.
func TestAbortRecordsTheOpNeverRan(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, config(1, "data1", []string{"data2"}), "data2")
	v := s.replica(0).config.Version

	// Op 1 ran: settling it answers its result.
	if rep, _ := commitAcked(t, env, s, commitCmd(v, 1, "SET", "a", "1")); !proto.Equal(rep, command.OK()) {
		t.Fatalf("SET a answered %v", rep)
	}
	grantLease(env, s, v)
	if rep, _ := commitAcked(t, env, s, &wire.Commit{ConfigVersion: v, Op: &wire.OpID{Incarnation: 1, Counter: 1}, Abort: true}); !proto.Equal(rep, command.OK()) {
		t.Fatalf("settling op 1, which ran, answered %v, want its result +OK", rep)
	}

	// Op 2 never reached the primary: settling it records the abort...
	grantLease(env, s, v)
	op2 := &wire.OpID{Incarnation: 1, Counter: 2}
	if rep, _ := commitAcked(t, env, s, &wire.Commit{ConfigVersion: v, Op: op2, Abort: true}); !command.IsAborted(rep) {
		t.Fatalf("settling op 2, which never ran, answered %v, want the aborted result", rep)
	}
	// ...and its write, arriving late, does not run.
	grantLease(env, s, v)
	late := commitCmd(v, 2, "SET", "b", "2")
	s.Handle(env, "api1", late)
	sent := settle(env, s)
	if rep := replyTo(t, sent, op2); !command.IsAborted(rep) {
		t.Fatalf("the late copy of op 2 answered %v, want the aborted result", rep)
	}
	if val, ok := get(t, env, "b"); ok {
		t.Fatalf("the aborted op 2 wrote b=%q", val)
	}
}
