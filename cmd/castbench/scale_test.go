package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSteps(t *testing.T) {
	got, err := parseSteps(" 3:1, 6:2,12:4 ")
	want := []scaleStep{{3, 1}, {6, 2}, {12, 4}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseSteps = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "3", "2:1", "3:0", "x:1", "3:1,6"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) accepted", bad)
		}
	}
}

func TestFormatScaleShowsGrowthAndWhereItStopped(t *testing.T) {
	rep := scaleReport{
		DataCPU: 0.05, ConnsPerShard: 50, DurationSec: 10, WarmupSec: 2, Keyspace: 20000, ValueBytes: 64,
		Steps: []scaleStepRows{
			{scaleStep: scaleStep{3, 1}, Conns: 50, Rows: []scaleRowRep{{Row: "set/p1", OpsPerSec: 500, DataCPU: 0.14, DataCap: 0.15, Throttled: 0.9}}},
			{scaleStep: scaleStep{6, 2}, Conns: 100, Rows: []scaleRowRep{{Row: "set/p1", OpsPerSec: 1000, Speedup: 2, DataCPU: 0.29, DataCap: 0.3, Errors: 3, FirstError: "TRYAGAIN x"}}},
		},
	}
	out := formatScale(rep)
	for _, want := range []string{"capped at 0.05 CPU", "1.00×", "2.00×", "0.14 of 0.15", "90%", "6 data servers, set/p1: 3 errors, the first: TRYAGAIN x"} {
		if !strings.Contains(out, want) {
			t.Errorf("formatScale lacks %q:\n%s", want, out)
		}
	}
}

func TestMachineBusySeconds(t *testing.T) {
	a, err := machineBusySeconds()
	if err != nil {
		t.Skipf("no /proc/stat here: %v", err)
	}
	b, err := machineBusySeconds()
	if err != nil || b < a {
		t.Fatalf("busy time went from %v to %v (%v)", a, b, err)
	}
}
