package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// TLS, for the cluster port of every role and the RESP port of API servers
// (--tls-cert, --tls-key, --tls-ca):
//
//   - Between roles it is mutual: each side presents its certificate and
//     accepts the other's only if --tls-ca signed it. Peers dial each other
//     by address, so a certificate need not name one: membership is being
//     signed by the cluster's CA, as in CockroachDB's node certificates.
//   - On the RESP port the API server presents its certificate. Clients
//     are asked for one only with --tls-client-ca, the CA that signs
//     clients' certificates, which must not be the cluster's: a client
//     certificate the cluster's CA signed would pass as a peer on the
//     cluster port, past requirepass. With it, --tls-auth-clients yes (the
//     default, as Redis's tls-auth-clients) requires a certificate it
//     signed; optional verifies one if given; no asks for none.
//
// Without --tls-cert both ports speak plain TCP.

type tlsFlags struct {
	cert, key, ca string
	clientCA      string // api and dev: the CA of RESP clients' certificates
	authClients   string // api and dev: yes, no, optional
}

func (t *tlsFlags) register(fs *flag.FlagSet, clientPort bool) {
	fs.StringVar(&t.cert, "tls-cert", "", "PEM certificate this process presents on the cluster port"+orClient(clientPort)+"; with --tls-key and --tls-ca turns TLS on; empty: plain TCP")
	fs.StringVar(&t.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&t.ca, "tls-ca", "", "PEM certificate of the CA that signs every castkv process's certificate (the cluster's CA)")
	if clientPort {
		fs.StringVar(&t.clientCA, "tls-client-ca", "", "PEM certificate of the CA that signs RESP clients' certificates; never the cluster's CA. Empty: clients are not asked for certificates")
		fs.StringVar(&t.authClients, "tls-auth-clients", "yes", "with --tls-client-ca: yes (a certificate it signed is required), optional (verified if given) or no")
	}
}

func orClient(clientPort bool) string {
	if clientPort {
		return " and the RESP port"
	}
	return ""
}

// configs loads the files; nil configs without --tls-cert.
func (t *tlsFlags) configs() (cluster, client *tls.Config, err error) {
	if t.cert == "" && t.key == "" && t.ca == "" {
		return nil, nil, nil
	}
	if t.cert == "" || t.key == "" || t.ca == "" {
		return nil, nil, usageError{errors.New("TLS needs all three of --tls-cert, --tls-key and --tls-ca")}
	}
	pair, err := tls.LoadX509KeyPair(t.cert, t.key)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--tls-cert/--tls-key: %v", err)}
	}
	pem, err := os.ReadFile(t.ca)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--tls-ca: %v", err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, usageError{fmt.Errorf("--tls-ca: %s holds no PEM certificate", t.ca)}
	}
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("castkv cluster: the peer presented no certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		inter := x509.NewCertPool()
		for _, r := range raw[1:] {
			if c, err := x509.ParseCertificate(r); err == nil {
				inter.AddCert(c)
			}
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return fmt.Errorf("castkv cluster: the peer's certificate is not signed by --tls-ca: %w", err)
		}
		return nil
	}
	cluster = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		// A dialer checks the server's chain itself (verify), not a name:
		// peers are dialled by address.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verify,
	}
	client = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if t.clientCA == "" {
		return cluster, client, nil // clients are not asked for certificates
	}
	clientPEM, err := os.ReadFile(t.clientCA)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--tls-client-ca: %v", err)}
	}
	if client.ClientCAs = x509.NewCertPool(); !client.ClientCAs.AppendCertsFromPEM(clientPEM) {
		return nil, nil, usageError{fmt.Errorf("--tls-client-ca: %s holds no PEM certificate", t.clientCA)}
	}
	if sharesCert(pem, clientPEM) {
		return nil, nil, usageError{errors.New("--tls-client-ca must not hold the cluster's CA (--tls-ca): a client certificate would pass as a cluster peer")}
	}
	switch strings.ToLower(t.authClients) {
	case "yes", "":
		client.ClientAuth = tls.RequireAndVerifyClientCert
	case "optional":
		client.ClientAuth = tls.VerifyClientCertIfGiven
	case "no":
		client.ClientAuth = tls.NoClientCert
	default:
		return nil, nil, usageError{fmt.Errorf("--tls-auth-clients must be yes, optional or no, not %q", t.authClients)}
	}
	return cluster, client, nil
}

// sharesCert reports whether two PEM bundles hold a certificate in common.
func sharesCert(a, b []byte) bool {
	certs := func(p []byte) [][]byte {
		var out [][]byte
		for {
			var block *pem.Block
			if block, p = pem.Decode(p); block == nil {
				return out
			}
			out = append(out, block.Bytes)
		}
	}
	for _, x := range certs(a) {
		for _, y := range certs(b) {
			if bytes.Equal(x, y) {
				return true
			}
		}
	}
	return false
}
