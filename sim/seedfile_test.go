package sim

import (
	"strings"
	"testing"
	"time"
)

func TestParseSeedFile(t *testing.T) {
	entries, err := ParseSeedFile(strings.NewReader(`# comment

9 20s pass a note
12 5s catch read-secondary linearizability: the ops on k1 alone
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []SeedEntry{
		{Seed: 9, Duration: 20 * time.Second, Note: "a note", Line: 3},
		{Seed: 12, Duration: 5 * time.Second, Canary: "read-secondary", Note: "linearizability: the ops on k1 alone", Line: 4},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %+v, want %+v", entries, want)
	}
	for i := range want {
		if entries[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, entries[i], want[i])
		}
		if line := entries[i].String(); !strings.Contains("9 20s pass a note\n12 5s catch read-secondary linearizability: the ops on k1 alone", line) {
			t.Errorf("entry %d prints as %q", i, line)
		}
	}
	for _, bad := range []string{
		"9 20s a note",                 // no verdict
		"9 20s pass",                   // no note
		"x 20s pass note",              // bad seed
		"9 soon pass note",             // bad duration
		"9 20s catch no-such-canary n", // unknown canary
		"9 20s catch read-secondary",   // no note
	} {
		if _, err := ParseSeedFile(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: got %v, want an error naming line 1", bad, err)
		}
	}
}

// Verdict holds a seed to what its line says, both ways.
func TestSeedVerdict(t *testing.T) {
	pass := SeedEntry{Seed: 1, Duration: time.Second, Note: "n"}
	catch := SeedEntry{Seed: 1, Duration: time.Second, Canary: "read-secondary", Note: "n"}
	ok, failed := &Result{Linearizable: true, Durable: true, Live: true}, &Result{Violation: "linearizability: x"}
	if pass.Verdict(ok) != nil || catch.Verdict(failed) != nil {
		t.Error("a seed that did what its line says was reported")
	}
	if pass.Verdict(failed) == nil || catch.Verdict(ok) == nil {
		t.Error("a seed that did not do what its line says passed")
	}
}
