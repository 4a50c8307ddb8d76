package main

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// The password may come from a file or the environment, kept out of ps;
// only one way at a time.
func TestRequirePassSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pass")
	if err := os.WriteFile(file, []byte("s3cret\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := apiFlags{maxValueBytes: 1, maxPipeline: 1, clientMemoryBytes: 1, requestTimeout: time.Second, requirePassFile: file}
	if err := a.check(); err != nil || a.requirePass != "s3cret" {
		t.Errorf("--requirepass-file: %q, %v", a.requirePass, err)
	}
	t.Setenv(requirePassEnv, "fromenv")
	a = apiFlags{maxValueBytes: 1, maxPipeline: 1, clientMemoryBytes: 1, requestTimeout: time.Second}
	if err := a.check(); err != nil || a.requirePass != "fromenv" {
		t.Errorf("$%s: %q, %v", requirePassEnv, a.requirePass, err)
	}
	a.requirePassFile = file
	if err := a.check(); err == nil {
		t.Error("a password from both a file and the environment was accepted")
	}
}

// TLS needs its three files; a missing one, or a bad --tls-auth-clients,
// is a usage error before anything starts.
func TestTLSFlags(t *testing.T) {
	var none tlsFlags
	if c, s, err := none.configs(); c != nil || s != nil || err != nil {
		t.Errorf("no TLS flags: %v %v %v", c, s, err)
	}
	for _, f := range []tlsFlags{{cert: "c"}, {cert: "c", key: "k"}, {ca: "a"}} {
		if _, _, err := f.configs(); err == nil || !strings.Contains(err.Error(), "all three") {
			t.Errorf("%+v: %v", f, err)
		}
	}
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	cert, key := ca.issue(t, dir, "node")
	f := tlsFlags{cert: cert, key: key, ca: ca.pem, authClients: "yes"}
	if _, cli, err := f.configs(); err != nil || cli.ClientAuth != tls.NoClientCert {
		t.Errorf("no --tls-client-ca: clients must not be asked for certificates: %v", err)
	}
	f.clientCA = ca.pem
	if _, _, err := f.configs(); err == nil || !strings.Contains(err.Error(), "must not hold the cluster's CA") {
		t.Errorf("the cluster's CA as the clients': %v", err)
	}
	f.clientCA = newTestCA(t, dir, "clients").pem
	f.authClients = "sometimes"
	if _, _, err := f.configs(); err == nil || !strings.Contains(err.Error(), "--tls-auth-clients") {
		t.Errorf("--tls-auth-clients sometimes: %v", err)
	}
	f.authClients = "optional"
	if cl, cli, err := f.configs(); err != nil || cl.ClientAuth != tls.RequireAndVerifyClientCert || cli.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("optional: %v", err)
	}
}
