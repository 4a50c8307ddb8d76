package net

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReplyResult(t *testing.T) {
	for _, tc := range []struct {
		isErr bool
		text  string
		want  string
	}{
		{false, "", "ok"},
		{true, "ERR value is not an integer or out of range", "ERR"},
		{true, "TRYAGAIN shard 3 moving", "TRYAGAIN"},
		{true, "UNCERTAIN the write may or may not have been applied", "UNCERTAIN"},
		{true, "EXECABORT Transaction discarded", "EXECABORT"},
		{true, "weird lower case", "error"},
		{true, "", "error"},
		{true, "AVERYLONGERRORCODEINDEED text", "error"},
	} {
		if got := replyResult(tc.isErr, tc.text); got != tc.want {
			t.Errorf("replyResult(%v, %q) = %q, want %q", tc.isErr, tc.text, got, tc.want)
		}
	}
}

// The port counts each command once, by name and result; a name the port
// does not know is counted as "unknown", so clients cannot grow the label
// set; connections are a gauge.
func TestRESPMetricsCountCommands(t *testing.T) {
	m := NewMetrics()
	s, _, _ := respStart(t, RESPConfig{Metrics: m})
	c := respDial(t, s.Addr())
	c.expect(respArray("SET", "k", "1"), "+OK\r\n")
	c.expect(respArray("INCR", "k"), ":2\r\n")
	c.expect(respArray("GET", "k"), "$1\r\n2\r\n")
	c.expect(respArray("SET", "s", "x"), "+OK\r\n")
	c.roundTrip(respArray("INCR", "s"))
	c.roundTrip(respArray("NOSUCH-1"))
	c.roundTrip(respArray("NOSUCH-2"))
	c.expect(respArray("PING"), "+PONG\r\n")
	for _, tc := range []struct {
		cmd, result string
		want        float64
	}{
		{"set", "ok", 2}, {"incr", "ok", 1}, {"incr", "ERR", 1}, {"get", "ok", 1}, {"ping", "ok", 1}, {"unknown", "ERR", 2},
	} {
		if got := testutil.ToFloat64(m.commands.WithLabelValues(tc.cmd, tc.result)); got != tc.want {
			t.Errorf("castkv_commands_total{cmd=%q,result=%q} = %v, want %v", tc.cmd, tc.result, got, tc.want)
		}
	}
	if got := testutil.CollectAndCount(m.latency); got != 5 { // set, incr, get, ping, unknown
		t.Errorf("%d latency series, want 5", got)
	}
	if got := testutil.ToFloat64(m.conns); got != 1 {
		t.Errorf("castkv_resp_connections = %v with one client", got)
	}
}
