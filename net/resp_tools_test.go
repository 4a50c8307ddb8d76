package net

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Redis's own tools against the port. Each test skips, saying so, when the
// tool is not installed (Debian: apt-get install redis-tools).

func respFindTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install redis-tools); skipping", name)
	}
	return path
}

func respRunTool(t *testing.T, stdin string, path string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestRESPRedisCLI(t *testing.T) {
	cli := respFindTool(t, "redis-cli")
	s, _, _ := respStart(t, RESPConfig{})
	_, port, _ := strings.Cut(s.Addr(), ":")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG\n"},
		{[]string{"SET", "a", "b"}, "OK\n"},
		{[]string{"GET", "a"}, "b\n"},
		{[]string{"MGET", "a", "nope"}, "b\n\n"},
		{[]string{"EXISTS", "a", "a"}, "2\n"},
		{[]string{"FOO"}, "ERR unknown command 'FOO', with args beginning with: \n\n"}, // redis-cli adds a line after errors
		{[]string{"COMMAND", "COUNT"}, fmt.Sprintf("%d\n", len(respCommands))},
	} {
		out, errOut, err := respRunTool(t, "", cli, append([]string{"-p", port}, tc.args...)...)
		if err != nil || out != tc.want {
			t.Errorf("redis-cli -p %s %s: %q (stderr %q, %v), want %q", port, strings.Join(tc.args, " "), out, errOut, err, tc.want)
		}
	}
	// With stdin, redis-cli first asks COMMAND DOCS for its help and hints.
	out, errOut, err := respRunTool(t, "SET x 1\nGET x\nHELP SET\n", cli, "-p", port)
	if err != nil || !strings.HasPrefix(out, "OK\n1\n") || !strings.Contains(out, "Sets the string value of a key") {
		t.Errorf("redis-cli with commands on stdin: %q (stderr %q, %v)", out, errOut, err)
	}
	out, _, err = respRunTool(t, "", cli, "-p", port, "INFO", "server")
	if err != nil || !strings.Contains(out, "redis_version:7.2.0") {
		t.Errorf("redis-cli INFO server: %q, %v", out, err)
	}

	s2, _, _ := respStart(t, RESPConfig{RequirePass: "pw"})
	_, port2, _ := strings.Cut(s2.Addr(), ":")
	if out, errOut, err := respRunTool(t, "", cli, "-p", port2, "--no-auth-warning", "-a", "pw", "SET", "k", "v"); err != nil || out != "OK\n" {
		t.Errorf("redis-cli -a pw SET k v: %q (stderr %q, %v)", out, errOut, err)
	}
	if out, _, _ := respRunTool(t, "", cli, "-p", port2, "GET", "k"); out != "NOAUTH Authentication required.\n\n" {
		t.Errorf("redis-cli without -a: %q", out)
	}
}

func TestRESPRedisBenchmark(t *testing.T) {
	bench := respFindTool(t, "redis-benchmark")
	s, _, _ := respStart(t, RESPConfig{})
	_, port, _ := strings.Cut(s.Addr(), ":")
	for _, pipeline := range []string{"1", "16"} {
		out, errOut, err := respRunTool(t, "", bench, "-p", port, "-n", "2000", "-c", "4", "-P", pipeline, "-t", "ping,set,get,mset", "-q")
		if err != nil {
			t.Fatalf("redis-benchmark -P %s: %v\nstderr: %s", pipeline, err, errOut)
		}
		// redis-benchmark warns on stderr when CONFIG GET save/appendonly
		// fails, and prints any error reply it gets.
		all := out + errOut
		if strings.Contains(all, "WARNING") || strings.Contains(all, "rror") {
			t.Errorf("redis-benchmark -P %s complained:\n%s", pipeline, all)
		}
		for _, test := range []string{"PING_INLINE:", "PING_MBULK:", "SET:", "GET:", "MSET (10 keys):"} {
			if !strings.Contains(out, test) {
				t.Errorf("redis-benchmark -P %s did not report %s:\n%s", pipeline, test, out)
			}
		}
	}
	if st := s.Stats(); st.ProtocolErrors != 0 || st.TotalCommands < 2*5*2000 {
		t.Errorf("after redis-benchmark: %+v", st)
	}
}
