package command

import "testing"

// TestMatch: Redis's glob patterns (util.c stringmatchlen), as KEYS and
// SCAN MATCH use them.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", false}, {"*", "anything", true}, {"", "", true}, {"", "a", false}, // KEYS * shortcuts to every key, "" too
		{"h?llo", "hello", true}, {"h?llo", "hllo", false}, {"h*llo", "hllo", true}, {"h*llo", "heeeello", true},
		{"h[ae]llo", "hello", true}, {"h[ae]llo", "hillo", false}, {"h[^e]llo", "hallo", true}, {"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true}, {"h[b-a]llo", "hallo", true}, {"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true}, {`h\*llo`, "hello", false}, {`h[\]]llo`, "h]llo", true},
		{"key:*", "key:1", true}, {"key:*", "key", false}, {"*:1", "user:1", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false},
		{"h[ae", "ha", true}, {"h[ae", "hax", false}, // an unclosed set ends the pattern
		{"**x", "yx", true}, {"?", "", false},
	} {
		if got := Match([]byte(tc.pattern), []byte(tc.s), false); got != tc.want {
			t.Errorf("Match(%q, %q) = %t, want %t", tc.pattern, tc.s, got, tc.want)
		}
	}
	// A pattern of many stars against a long string ends (Redis bounds
	// the nesting too).
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'a'
	}
	pattern := []byte("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b")
	if Match(pattern, long, false) {
		t.Error("many stars matched a string without the b")
	}
}

func TestParseScan(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		reply string
	}{
		{[]string{"SCAN", "x"}, "ERR invalid cursor"},
		{[]string{"SCAN", "-1"}, "ERR invalid cursor"},
		{[]string{"SCAN", "0", "COUNT", "0"}, "ERR syntax error"},
		{[]string{"SCAN", "0", "COUNT", "x"}, "ERR value is not an integer or out of range"},
		{[]string{"SCAN", "0", "MATCH"}, "ERR syntax error"},
		{[]string{"SCAN", "0", "BOGUS", "1"}, "ERR syntax error"},
		{[]string{"KEYS"}, "ERR wrong number of arguments for 'keys' command"},
	} {
		if _, reply := Parse(argv(tc.args...)); reply == nil || reply.Str != tc.reply {
			t.Errorf("%q: %v, want %q", tc.args, reply, tc.reply)
		}
	}
	c, reply := Parse(argv("SCAN", "18446744073709551615", "MATCH", "k*", "COUNT", "5", "TYPE", "hash"))
	if reply != nil {
		t.Fatal(reply)
	}
	if c, reply = FromWire(ToWire(c)); reply != nil {
		t.Fatal(reply)
	}
	if c.ScanFrom() != 18446744073709551615 || c.ScanCount() != 5 || c.ScanWants([]byte("k1")) {
		t.Errorf("SCAN max MATCH k* COUNT 5 TYPE hash: from %d, count %d, wants k1 %t", c.ScanFrom(), c.ScanCount(), c.ScanWants([]byte("k1")))
	}
	c, _ = Parse(argv("SCAN", "0", "TYPE", "STRING", "MATCH", "k?"))
	if !c.ScanWants([]byte("k1")) || c.ScanWants([]byte("k12")) {
		t.Error("SCAN TYPE string MATCH k?: wrong filter")
	}
}
