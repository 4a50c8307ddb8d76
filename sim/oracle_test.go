package sim

import (
	"strings"
	"testing"
	"time"

	"castkv/actors/data"
	"castkv/actors/store"
)

// firedOracle reports whether res failed oracle name.
func firedOracle(res *Result, name string) bool {
	for _, v := range res.Oracles {
		if strings.HasPrefix(v, "oracle "+name+" ") {
			return true
		}
	}
	return false
}

// The canaries that break commit-all and the lease rule trip their oracles,
// on seeds that catch them (testdata/seeds.txt; pick new ones there when a
// change to the simulator moves the draw).
func TestOraclesCatchCanaries(t *testing.T) {
	for _, tc := range []struct {
		canary, oracle string
		seed           uint64
	}{
		{data.CanaryCommitOnMajority, OracleCommitAll, 1},
		{data.CanaryIgnoreLease, OracleSingleLease, 3},
	} {
		res, err := Run(Options{Seed: tc.seed, Canary: tc.canary})
		if err != nil {
			t.Fatal(err)
		}
		if !firedOracle(res, tc.oracle) {
			t.Errorf("canary %s, seed %d: oracle %s did not fire; oracles: %q", tc.canary, tc.seed, tc.oracle, res.Oracles)
		}
		if res.OK() {
			t.Errorf("canary %s, seed %d: the run passed", tc.canary, tc.seed)
		}
	}
}

// A replica whose log entry differs from the one the others commit at the
// same seq trips committed-prefix agreement once its commit point passes it.
// The entry is rewritten behind the role's back, on its disk, after it was
// appended and before it committed.
func TestOracleCommittedPrefixAgreement(t *testing.T) {
	r := newRunner(Options{Seed: 1, Duration: 5 * time.Second, Clients: 5, Faults: FaultSet{}})
	w := r.w
	var tampered uint64
	var tamper func()
	tamper = func() {
		m := r.data[1]
		s := server(m)
		if s == nil || len(s.Inspect()) == 0 || s.Inspect()[0].LastSeq <= s.Inspect()[0].CommitSeq {
			w.at(w.now+time.Millisecond, tamper)
			return
		}
		v := s.Inspect()[0]
		st := store.New(m.db, nil)
		e, err := st.Entry(v.Shard, v.LastSeq)
		if err != nil || e == nil {
			t.Fatalf("read %s's entry %d: %v", m.addr, v.LastSeq, err)
		}
		e.CommitTs++
		b := st.NewBatch()
		b.AppendEntry(v.Shard, e)
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		tampered = v.LastSeq
		w.logf("test: rewrote %s's entry %d", m.addr, tampered)
	}
	w.at(2*time.Second, tamper)
	r.run()
	res := r.check()
	if tampered == 0 {
		t.Fatal("found no uncommitted entry to rewrite")
	}
	if !firedOracle(res, OracleCommittedPrefix) {
		t.Fatalf("entry %d rewritten on %s: oracle %s did not fire; oracles: %q", tampered, r.data[1].addr, OracleCommittedPrefix, res.Oracles)
	}
	t.Logf("caught: %s", res.Oracles[0])
}
