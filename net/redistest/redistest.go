// Package redistest starts a real redis-server for tests that compare
// castkv's replies with Redis's. Nothing outside tests imports it.
package redistest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Start runs redis-server on a free loopback port, with no persistence,
// until the test ends, and returns its address once it accepts
// connections. ok is false, and nothing runs, where redis-server is not
// installed: the caller skips or says so (Debian: apt-get install
// redis-server). If the test fails, its log's tail is logged.
func Start(t testing.TB) (addr string, ok bool) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", false
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	srv := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logPath)
	if err := srv.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			out, _ := exec.Command(bin, "--version").Output()
			log, _ := os.ReadFile(logPath)
			t.Logf("redis-server: %s; log tail: %s", out, log[max(0, len(log)-500):])
		}
	})
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return addr, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s: %v", addr, err)
		}
	}
}
