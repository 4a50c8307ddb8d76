package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseLogLine(t *testing.T) {
	lines := []string{
		`{"time":"2026-11-30T15:06:17.55115101Z","level":"INFO","msg":"bootstrapped meta group","node":"meta1","role":"meta","members":"[127.0.0.1:23000/meta]","shard0":"v1 primary=127.0.0.1:23001/data secondaries=[127.0.0.1:23002/data 127.0.0.1:23003/data] learners=[]"}`,
		`{"time":"2026-11-30T15:06:17.555822616Z","level":"INFO","msg":"primary: appended barrier","node":"data1","role":"data","shard":0,"version":1,"seq":1}`,
		`{"time":"2026-11-30T15:06:57.962210149Z","level":"WARN","msg":"primary looks failed; no more leases for it","node":"meta","why":"missed heartbeats"}`,
		`{"time":"2026-11-30T15:06:59.180995639Z","level":"INFO","msg":"config change","node":"meta","why":"primary restarted","from":"v1 primary=A secondaries=[B C] learners=[]","to":"v2 primary=A secondaries=[B] learners=[C]"}`,
		`castkv dev cluster ready: redis-cli -p 7379`,
		`panic: something`,
	}
	var l eventLog
	l.consume(strings.NewReader(strings.Join(lines, "\n")), 2)
	if len(l.events) != 3 {
		t.Fatalf("%d events, want the bootstrap, the warning and the config change: %v", len(l.events), l.events)
	}
	if got := l.events[1].String(); got != "WARN primary looks failed; no more leases for it (missed heartbeats)" {
		t.Errorf("warning = %q", got)
	}
	if l.events[0].run != 2 {
		t.Errorf("run = %d, want 2", l.events[0].run)
	}
	if got := l.lastConfig(); got != "v2 primary=A secondaries=[B] learners=[C]" {
		t.Errorf("lastConfig = %q, want the config change's new config", got)
	}
	from, _ := time.Parse(time.RFC3339, "2026-11-30T15:06:50Z")
	to, _ := time.Parse(time.RFC3339, "2026-11-30T15:06:58Z")
	if got := l.between(from, to); len(got) != 1 || got[0].level != "WARN" {
		t.Errorf("between = %v, want the warning only", got)
	}
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig("v7 primary=127.0.0.1:23001/data secondaries=[127.0.0.1:23002/data 127.0.0.1:23003/data] learners=[]")
	if err != nil {
		t.Fatal(err)
	}
	if c.version != "v7" || c.primary != "127.0.0.1:23001/data" || len(c.secondaries) != 2 || c.secondaries[1] != "127.0.0.1:23003/data" || len(c.learners) != 0 {
		t.Errorf("parsed %+v", c)
	}
	c, err = parseConfig("v2 primary=A secondaries=[] learners=[B C]")
	if err != nil || len(c.secondaries) != 0 || len(c.learners) != 2 {
		t.Errorf("parsed %+v, %v", c, err)
	}
	for _, bad := range []string{"", "none", "v1 secondaries=[] learners=[]", "v1 primary=A secondaries=[B", "v1 primary=A learners=[]"} {
		if _, err := parseConfig(bad); err == nil {
			t.Errorf("parseConfig(%q) accepted it", bad)
		}
	}
}

func TestDataServerName(t *testing.T) {
	d := &devCluster{peerBase: 23000}
	for addr, want := range map[string]string{
		"127.0.0.1:23003/data": "data1", "127.0.0.1:23005/data": "data3",
		"127.0.0.1:23000/meta": "", "127.0.0.1:230031/data": "", "10.0.0.1:23004/data": "",
	} {
		if got := d.dataServerName(addr); got != want {
			t.Errorf("dataServerName(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestLineTailKeepsTheLastLines(t *testing.T) {
	lt := &lineTail{max: 3}
	for i := range 10 {
		fmt.Fprintf(lt, "line %d\n", i)
	}
	lt.Write([]byte("partial"))
	if got, want := lt.String(), "line 7\nline 8\nline 9\npartial"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestQuoteEmpty(t *testing.T) {
	if got := strings.Join(quoteEmpty(redisArgs), " "); got != `--appendonly yes --appendfsync always --save ""` {
		t.Errorf("redis args shown as %s", got)
	}
}
