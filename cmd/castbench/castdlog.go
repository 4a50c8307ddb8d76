package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// What castbench reads from castd's JSON log (--log-format json): the
// warnings and config changes during a row, and the newest config, which
// no castd command shows.

// logEvent is one line of castd's JSON log that castbench cares about: a
// warning or error, or a config change.
type logEvent struct {
	time   time.Time
	run    int
	level  string
	msg    string
	config string // the new config of a bootstrap or config change
	why    string
}

func (e logEvent) String() string {
	s := e.level + " " + e.msg
	if e.why != "" {
		s += " (" + e.why + ")"
	}
	if e.config != "" {
		s += ": " + e.config
	}
	return s
}

// eventLog collects a cluster's log events across its runs.
type eventLog struct {
	mu     sync.Mutex
	events []logEvent
}

// maxEvents bounds what a long run keeps; the full log is on disk.
const maxEvents = 10000

func (l *eventLog) consume(r io.Reader, run int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if e, ok := parseLogLine(sc.Bytes(), run); ok {
			l.mu.Lock()
			if len(l.events) < maxEvents {
				l.events = append(l.events, e)
			}
			l.mu.Unlock()
		}
	}
	io.Copy(io.Discard, r) // a line too long for the scanner: keep the pipe flowing
}

// parseLogLine picks the events castbench reports from one line of castd's
// JSON log (slog's JSONHandler).
func parseLogLine(line []byte, run int) (logEvent, bool) {
	var m struct {
		Time   time.Time `json:"time"`
		Level  string    `json:"level"`
		Msg    string    `json:"msg"`
		Config string    `json:"config"`
		Shard0 string    `json:"shard0"`
		To     string    `json:"to"`
		Why    string    `json:"why"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return logEvent{}, false
	}
	e := logEvent{time: m.Time, run: run, level: m.Level, msg: m.Msg, why: m.Why}
	switch {
	case m.Msg == "bootstrapped meta group":
		e.config = m.Shard0
	case m.Msg == "config change":
		e.config = m.To
	case m.Level == "WARN" || m.Level == "ERROR":
	default:
		return logEvent{}, false
	}
	return e, true
}

// between returns the events logged in [from, to].
func (l *eventLog) between(from, to time.Time) []logEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logEvent
	for _, e := range l.events {
		if !e.time.Before(from) && !e.time.After(to) {
			out = append(out, e)
		}
	}
	return out
}

// lastConfig is the newest config the cluster logged, in any run.
func (l *eventLog) lastConfig() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.events) - 1; i >= 0; i-- {
		if l.events[i].config != "" {
			return l.events[i].config
		}
	}
	return ""
}

// shardConfig is meta's description of a config (actors/meta describe):
// "v2 primary=A secondaries=[B C] learners=[]".
type shardConfig struct {
	version     string
	primary     string
	secondaries []string
	learners    []string
}

func parseConfig(s string) (shardConfig, error) {
	var c shardConfig
	fields := strings.Fields(s)
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "v") {
		return c, fmt.Errorf("config %q: no version", s)
	}
	c.version = fields[0]
	rest := strings.Join(fields[1:], " ")
	list := func(name string) ([]string, error) {
		i := strings.Index(rest, name+"=[")
		if i < 0 {
			return nil, fmt.Errorf("config %q: no %s", s, name)
		}
		body := rest[i+len(name)+2:]
		j := strings.IndexByte(body, ']')
		if j < 0 {
			return nil, fmt.Errorf("config %q: %s not closed", s, name)
		}
		return strings.Fields(body[:j]), nil
	}
	for _, f := range fields[1:] {
		if p, ok := strings.CutPrefix(f, "primary="); ok {
			c.primary = p
		}
	}
	if c.primary == "" {
		return c, fmt.Errorf("config %q: no primary", s)
	}
	var err error
	if c.secondaries, err = list("secondaries"); err != nil {
		return c, err
	}
	if c.learners, err = list("learners"); err != nil {
		return c, err
	}
	return c, nil
}
