package net

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"castkv/actors/command"
)

// respInfoBody is an INFO reply's text.
func respInfoBody(t *testing.T, reply string) string {
	t.Helper()
	header, body, ok := strings.Cut(reply, "\r\n")
	if !ok || header[0] != '$' {
		t.Fatalf("INFO is not a bulk string: %q", reply)
	}
	return strings.TrimSuffix(strings.TrimSuffix(body, "\r\n"), "\r\n") // the bulk's end, then the last line's
}

func TestRESPInfoCommandStats(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{RequirePass: "pw"})
	c := respDial(t, s.Addr())
	c.expect(respArray("GET", "k"), "-NOAUTH Authentication required.\r\n")
	c.expect(respArray("AUTH", "pw"), "+OK\r\n")
	c.expect(respArray("SET", "k", "v"), "+OK\r\n")
	c.expect(respArray("GET", "k"), respBulk("v"))
	c.expect(respArray("GET"), "-ERR wrong number of arguments for 'get' command\r\n")
	c.expect(respArray("INCR", "k"), "-ERR value is not an integer or out of range\r\n")
	c.expect(respArray("NOSUCH"), "-ERR unknown command 'NOSUCH', with args beginning with: \r\n")
	c.expect(respArray("CLIENT", "NOSUCH"), "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n")
	c.expect(respArray("CLIENT", "ID"), ":1\r\n")
	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("SET", "k", "w"), "+QUEUED\r\n")
	c.expect(respArray("EXEC"), "*1\r\n+OK\r\n")

	stats := respInfoBody(t, c.roundTrip(respArray("INFO", "commandstats")))
	lines := strings.Split(stats, "\r\n")
	if lines[0] != "# Commandstats" {
		t.Fatalf("INFO commandstats: %q", stats)
	}
	line := regexp.MustCompile(`^cmdstat_([a-z|-]+):calls=(\d+),usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=(\d+),failed_calls=(\d+)$`)
	got := map[string]string{}
	for _, l := range lines[1:] {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("INFO commandstats line %q is not Redis's shape", l)
		}
		got[m[1]] = m[2] + "/" + m[3] + "/" + m[4] // calls/rejected/failed
	}
	want := map[string]string{
		// SET ran once and was queued once: QUEUED is not a call.
		"auth": "1/0/0", "get": "1/2/0", "set": "1/0/0", "incr": "1/0/1", "client|id": "1/0/0", "multi": "1/0/0", "exec": "1/0/0",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("cmdstat_%s calls/rejected/failed = %q, want %q", name, got[name], w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("INFO commandstats has cmdstat_%s", name)
		}
	}

	errs := respInfoBody(t, c.roundTrip(respArray("INFO", "errorstats")))
	if errs != "# Errorstats\r\nerrorstat_ERR:count=4\r\nerrorstat_NOAUTH:count=1" {
		t.Errorf("INFO errorstats: %q", errs)
	}
	if st := respInfoBody(t, c.roundTrip(respArray("INFO", "stats"))); !strings.Contains(st, "\r\ntotal_error_replies:5\r\n") && !strings.HasSuffix(st, "\r\ntotal_error_replies:5") {
		t.Errorf("INFO stats lacks total_error_replies:5: %q", st)
	}
	lat := respInfoBody(t, c.roundTrip(respArray("INFO", "latencystats")))
	if !regexp.MustCompile(`\r\nlatency_percentiles_usec_get:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}(\r\n|$)`).MatchString(lat) ||
		strings.Contains(lat, "latency_percentiles_usec_client|nosuch") {
		t.Errorf("INFO latencystats: %q", lat)
	}

	// INFO and INFO default leave commandstats and latencystats out, as
	// Redis 7's defaults; all and everything have them.
	for _, args := range [][]string{{"INFO"}, {"INFO", "default"}, {"INFO", "all"}, {"INFO", "everything"}, {"INFO", "default", "commandstats"}} {
		body := respInfoBody(t, c.roundTrip(respArray(args...)))
		full := args[len(args)-1] == "all" || args[len(args)-1] == "everything"
		if strings.Contains(body, "# Commandstats\r\n") != (full || args[len(args)-1] == "commandstats") ||
			strings.Contains(body, "# Latencystats\r\n") != full ||
			!strings.Contains(body, "# Errorstats\r\n") || !strings.Contains(body, "# Server\r\n") {
			t.Errorf("%v has the wrong sections:\n%s", args, body)
		}
	}

	c.expect(respArray("CONFIG", "RESETSTAT"), "+OK\r\n")
	if got := respInfoBody(t, c.roundTrip(respArray("INFO", "commandstats", "errorstats", "latencystats"))); !regexp.MustCompile(
		`^# Commandstats\r\ncmdstat_config\|resetstat:calls=1,[^\r]*\r\n\r\n# Errorstats\r\n\r\n# Latencystats\r\nlatency_percentiles_usec_config\|resetstat:[^\r]*$`).MatchString(got) {
		t.Errorf("INFO after CONFIG RESETSTAT: %q", got)
	}
	if got := s.Stats().ErrorReplies; got != 0 {
		t.Errorf("ErrorReplies after CONFIG RESETSTAT = %d", got)
	}
}

// TestRESPLatencyBuckets: every value falls in a bucket whose middle is
// within 1/32 of it, and the buckets cover the range in order.
func TestRESPLatencyBuckets(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<respLatencyMaxBits; v = v + 1 + v/97 {
		i := respLatencyBucket(v)
		if i < prev || i >= respLatencyBuckets {
			t.Fatalf("value %d: bucket %d after %d (of %d)", v, i, prev, respLatencyBuckets)
		}
		prev = i
		if mid := respLatencyValue(i); math.Abs(float64(mid)-float64(v)) > float64(v)/32 {
			t.Fatalf("value %d: bucket %d's middle %d is off by more than 1/32", v, i, mid)
		}
	}
	if i := respLatencyBucket(math.MaxUint64); i != respLatencyBuckets-1 {
		t.Errorf("the largest value's bucket is %d, want the last, %d", i, respLatencyBuckets-1)
	}
}

func TestRESPLatencyPercentiles(t *testing.T) {
	var h respLatency
	for us := uint64(1); us <= 10000; us++ { // 1 µs to 10 ms, evenly
		h.add(us * 1000)
	}
	for _, tc := range []struct{ q, want float64 }{{50, 5000e3}, {99, 9900e3}, {99.9, 9990e3}, {100, 10000e3}, {0, 1e3}} {
		if got := float64(h.percentile(tc.q)); math.Abs(got-tc.want) > tc.want/32 {
			t.Errorf("p%v = %v ns, want %v within 1/32", tc.q, got, tc.want)
		}
	}
}

// BenchmarkRESPStatsRecord is the statistics' cost per command when every
// connection goroutine records GETs at once: the counters and histogram
// buckets they share are atomics.
func BenchmarkRESPStatsRecord(b *testing.B) {
	st := newRESPStats()
	reply := command.Bulk([]byte("value"))
	args := [][]byte{[]byte("GET"), []byte("k")}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			st.record(st.lookup("get", args), reply, 150*time.Microsecond)
		}
	})
}
