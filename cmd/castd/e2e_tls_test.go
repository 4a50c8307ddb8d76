package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string // its certificate's file
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, ca.pem, "CERTIFICATE", der)
	return ca
}

// issue signs a certificate for name, usable as server and client, for
// 127.0.0.1; it returns its certificate and key files.
func (ca *testCA) issue(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientTLS is a client's TLS config: it trusts ca and presents cert.
func clientTLS(t *testing.T, ca *testCA, certFile, keyFile string) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "127.0.0.1"}
}

// TestDevTLS runs castd dev with TLS on the cluster port and the RESP port:
// every role talks to the others over mutual TLS, a client with a
// certificate the CA signed is served, a plain client and one with another
// CA's certificate are not, castd admin reaches meta only with the
// cluster's certificates, and redis-cli --tls works where it is installed.
func TestDevTLS(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	ca := newTestCA(t, dir, "cluster")
	nodeCert, nodeKey := ca.issue(t, dir, "node")
	clients := newTestCA(t, dir, "clients")
	clientCert, clientKey := clients.issue(t, dir, "client")
	other := newTestCA(t, dir, "other")
	otherCert, otherKey := other.issue(t, dir, "stranger")

	ports := freePorts(t, 8)
	addr := loopback(ports[7])
	tlsFlags := []string{"--tls-cert", nodeCert, "--tls-key", nodeKey, "--tls-ca", ca.pem}
	d := ps.start("dev", append([]string{"dev", "--listen", addr, "--data-dir", filepath.Join(ps.dir, "dev-data"),
		"--peer-base", strconv.Itoa(ports[0]), "--log-level", "warn", "--fail-timeout", e2eFailTimeout.String(),
		"--remove-after", e2eRemoveAfter.String(), "--request-timeout", e2eRequestTimeout.String(),
		"--tls-client-ca", clients.pem}, tlsFlags...)...)

	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DialTimeout: 2 * time.Second,
		TLSConfig: clientTLS(t, ca, clientCert, clientKey)})
	defer c.Close()
	var err error
	for start := time.Now(); time.Since(start) < readyTimeout; time.Sleep(readyPollEvery) {
		if gone, why := d.exited(); gone {
			t.Fatalf("castd dev exited (%v); stderr tail:\n%s", why, tail(d.stderr))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = c.Set(ctx, "tls", "on", 0).Err()
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no SET served over TLS within %v: %v", readyTimeout, err)
	}
	ctx := context.Background()
	if v, err := c.Get(ctx, "tls").Result(); v != "on" || err != nil {
		t.Fatalf("GET over TLS: %q, %v", v, err)
	}

	// Not served: a client that speaks plain RESP, and one whose
	// certificate another CA signed.
	plain := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Error("a plain TCP client was served on the TLS port")
	}
	stranger := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DialTimeout: 2 * time.Second,
		ReadTimeout: 3 * time.Second, TLSConfig: clientTLS(t, ca, otherCert, otherKey)})
	defer stranger.Close()
	if err := stranger.Ping(ctx).Err(); err == nil {
		t.Error("a client with another CA's certificate was served")
	}

	// castd admin over the cluster's TLS; without it meta never answers.
	meta := loopback(ports[0])
	var out bytes.Buffer
	if err := runAdmin(append([]string{"status", "--meta", meta, "--timeout", "20s"}, tlsFlags...), &out, &out); err != nil {
		t.Fatalf("castd admin status over TLS: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "SHARD") && !strings.Contains(out.String(), "shard") {
		t.Errorf("castd admin status printed no shards:\n%s", out.String())
	}
	out.Reset()
	if err := runAdmin([]string{"status", "--meta", meta, "--timeout", "2s"}, &out, &out); err == nil {
		t.Errorf("castd admin status without TLS reached a TLS cluster:\n%s", out.String())
	}
	// A RESP client's certificate is no cluster peer's.
	out.Reset()
	if err := runAdmin([]string{"status", "--meta", meta, "--timeout", "2s", "--tls-cert", clientCert, "--tls-key", clientKey, "--tls-ca", ca.pem}, &out, &out); err == nil {
		t.Errorf("castd admin status with a client's certificate reached the cluster:\n%s", out.String())
	}

	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Log("redis-cli is not installed (apt-get install redis-tools); its --tls run is left out")
		return
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(cli, "--tls", "--cacert", ca.pem, "--cert", clientCert, "--key", clientKey, "-h", "127.0.0.1", "-p", port, "GET", "tls")
	got, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "on" {
		t.Errorf("redis-cli --tls GET tls: %q, %v", got, err)
	}
}
