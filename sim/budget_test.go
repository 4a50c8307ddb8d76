package sim

import "testing"

// A work budget's failure names the flows that used most of it, largest
// first, so the reader of a failing seed knows what stormed.
func TestTopFlowsNamesTheLargest(t *testing.T) {
	k := &work{byFlow: map[flow]int64{
		{"api1", "data2", "castkv.wire.Stage"}:     78e6,
		{"api1", "data3", "castkv.wire.Stage"}:     79e6,
		{"api2", "data2", "castkv.wire.Commit"}:    8e6,
		{"data1", "meta", "castkv.wire.Heartbeat"}: 1e6,
	}}
	want := "api1->data3 castkv.wire.Stage 79.0 MB, api1->data2 castkv.wire.Stage 78.0 MB, api2->data2 castkv.wire.Commit 8.0 MB"
	if got := k.topFlows(3); got != want {
		t.Fatalf("topFlows(3) = %q, want %q", got, want)
	}
}
