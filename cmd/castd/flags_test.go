package main

import (
	"bytes"
	"strings"
	"testing"
)

// A zero or negative timing flag is a usage error, caught before anything
// starts: the roles would read zero as "use the default". The addresses are
// invalid, so that a daemon which let the flag through fails at once
// rather than serving.
func TestTimingFlagsMustBePositive(t *testing.T) {
	dir := t.TempDir()
	const bad = "no-port"
	for _, args := range [][]string{
		{"meta", "--peer", bad, "--data-dir", dir, "--data-servers", "127.0.0.1:2", "--fail-timeout", "0s"},
		{"meta", "--peer", bad, "--data-dir", dir, "--data-servers", "127.0.0.1:2", "--lease", "-1s"},
		{"data", "--peer", bad, "--data-dir", dir, "--meta", "127.0.0.1:2", "--remove-after", "0s"},
		{"dev", "--listen", bad, "--peer-base", "1", "--data-dir", dir, "--remove-after", "-5s"},
		{"dev", "--listen", bad, "--peer-base", "1", "--data-dir", dir, "--fail-timeout", "0s"},
		{"dev", "--listen", bad, "--peer-base", "1", "--data-dir", dir, "--request-timeout", "0s"},
		{"api", "--peer", bad, "--data-dir", dir, "--meta", "127.0.0.1:2", "--listen", bad, "--request-timeout", "26s"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		flag := args[len(args)-2]
		if code != 2 || !strings.Contains(stderr.String(), flag+" must be positive") {
			t.Errorf("castd %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(args, " "), code, stderr.String(), flag+" must be positive…")
		}
	}
}
