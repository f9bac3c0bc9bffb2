package qlikapitest

import (
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
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// pki is what a fake's mutual TLS needs, made at run time: a CA, a server
// certificate it signed for localhost and 127.0.0.1, a client certificate
// it signed, and a client certificate of another CA. The client's files
// are PEM files in a test's temporary folder.
type pki struct {
	ca         *authority
	serverCert tls.Certificate
	// CAFile, ClientCertFile, ClientKeyFile: what a client needs;
	// RogueCertFile, RogueKeyFile: a client certificate of another CA.
	CAFile, ClientCertFile, ClientKeyFile string
	RogueCertFile, RogueKeyFile           string
}

// newPKI makes the CAs "<name> root" and "<name> rogue", and the client
// certificates with the common name client.
func newPKI(t testing.TB, name, client string) *pki {
	t.Helper()
	dir := t.TempDir()
	ca := newCA(t, name+" root")
	rogue := newCA(t, name+" rogue")
	p := &pki{ca: ca, serverCert: ca.issue(t, "localhost", true)}
	clientCert := ca.issue(t, client, false)
	rogueCert := rogue.issue(t, "rogue", false)
	p.CAFile = writePEM(t, dir, "root.pem", "CERTIFICATE", ca.cert.Raw)
	p.ClientCertFile = writePEM(t, dir, "client.pem", "CERTIFICATE", clientCert.Certificate[0])
	p.ClientKeyFile = writeKey(t, dir, "client_key.pem", clientCert.PrivateKey.(*ecdsa.PrivateKey))
	p.RogueCertFile = writePEM(t, dir, "rogue.pem", "CERTIFICATE", rogueCert.Certificate[0])
	p.RogueKeyFile = writeKey(t, dir, "rogue_key.pem", rogueCert.PrivateKey.(*ecdsa.PrivateKey))
	return p
}

// serverTLS is the server's side: its certificate, and a client
// certificate of the CA required.
func (p *pki) serverTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	return &tls.Config{
		Certificates: []tls.Certificate{p.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var (
	serialMu sync.Mutex
	serial   = big.NewInt(time.Now().UnixNano())
)

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial = new(big.Int).Add(serial, big.NewInt(1))
	return serial
}

// template is a certificate valid from an hour ago for a day.
func template(name string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

// sign makes a key and a certificate from tmpl, signed by parent (by
// itself when parent is nil).
func sign(t testing.TB, tmpl *x509.Certificate, parent *authority) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func newCA(t testing.TB, name string) *authority {
	t.Helper()
	tmpl := template(name)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	cert, key := sign(t, tmpl, nil)
	return &authority{cert: cert, key: key}
}

func (a *authority) issue(t testing.TB, name string, server bool) tls.Certificate {
	t.Helper()
	tmpl := template(name)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	cert, key := sign(t, tmpl, a)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

func writePEM(t testing.TB, dir, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "EC PRIVATE KEY", der)
}
