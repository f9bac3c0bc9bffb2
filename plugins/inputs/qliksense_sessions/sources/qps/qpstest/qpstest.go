// Package qpstest is a fake Qlik Sense proxy session API for tests: HTTPS
// with a client certificate required, both signed by a CA made at run time
// (no key material is committed), xrfkey checks, and switchable failures.
package qpstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failure makes the server misbehave in one way (or redirect).
type Failure int

const (
	OK        Failure = iota
	Status500         // answer HTTP 500
	Status403         // answer HTTP 403
	BadJSON           // answer something that is not a session array
	Hang              // answer only after the client gave up
	// RedirectSameOrigin redirects (307) to another path on the same scheme,
	// host and port, which answers normally: a client may follow it.
	RedirectSameOrigin
	// RedirectToHTTP redirects to the same path and query over plain http on
	// another port, where a second server answers the default sessions to
	// whoever asks (its requests have Scheme "http").
	RedirectToHTTP
	// RedirectToOtherHost redirects to the same server by another name,
	// 127.0.0.1 instead of localhost; the server certificate is valid for
	// both, so a client that follows gets an answer.
	RedirectToOtherHost
	// Oversize answers a valid session array of OversizeBytes, sent chunked,
	// without Content-Length.
	Oversize
	// OversizeDeclared is Oversize with the Content-Length header set.
	OversizeDeclared
)

// OversizeBytes is the length of the Oversize answers: 1 MiB past the
// client's limit, qps.MaxAnswer (64 MiB).
const OversizeBytes = 65 << 20

// redirectedPrefix marks the path a same-origin redirect leads to.
const redirectedPrefix = "/redirected"

// Server is a running fake session API.
type Server struct {
	URL string
	// PEM files a client needs: the CA that signed the server, and a client
	// certificate and key signed by the CA the server trusts.
	CAFile, ClientCertFile, ClientKeyFile string
	// Files of a client certificate signed by another CA, which the server
	// refuses.
	RogueCertFile, RogueKeyFile string

	srv   *httptest.Server
	plain *httptest.Server // plain http, the target of RedirectToHTTP

	mu       sync.Mutex
	answers  map[string]string // by virtual proxy prefix ("" = default)
	failure  Failure
	requests []Request
	release  chan struct{}
}

// Request is what the server saw of one request.
type Request struct {
	Path, XrfKeyQuery, XrfKeyHeader, User string
	// Scheme is "https", or "http" for the plain server; Host is the Host
	// header (localhost:<port>, 127.0.0.1:<port> after RedirectToOtherHost).
	Scheme, Host string
}

// NewServer starts a server; answers maps virtual proxy prefixes to the
// JSON body of their session list.
func NewServer(t testing.TB, answers map[string]string) *Server {
	t.Helper()
	dir := t.TempDir()
	ca := newCA(t, "qpstest root")
	rogue := newCA(t, "qpstest rogue")
	s := &Server{answers: answers, release: make(chan struct{})}

	serverCert := ca.issue(t, "localhost", true)
	clientCert := ca.issue(t, "sa_api", false)
	rogueCert := rogue.issue(t, "rogue", false)
	s.CAFile = writePEM(t, dir, "root.pem", "CERTIFICATE", ca.cert.Raw)
	s.ClientCertFile = writePEM(t, dir, "client.pem", "CERTIFICATE", clientCert.Certificate[0])
	s.ClientKeyFile = writeKey(t, dir, "client_key.pem", clientCert.PrivateKey.(*ecdsa.PrivateKey))
	s.RogueCertFile = writePEM(t, dir, "rogue.pem", "CERTIFICATE", rogueCert.Certificate[0])
	s.RogueKeyFile = writeKey(t, dir, "rogue_key.pem", rogueCert.PrivateKey.(*ecdsa.PrivateKey))

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	s.srv.StartTLS()
	s.URL = strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1)
	s.plain = httptest.NewServer(http.HandlerFunc(s.servePlain))
	t.Cleanup(func() {
		s.SetFailure(OK) // release hanging handlers
		s.srv.Close()
		s.plain.Close()
	})
	return s
}

// SetAnswer sets the JSON session list of a virtual proxy.
func (s *Server) SetAnswer(prefix, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[prefix] = body
}

// SetFailure switches the misbehaviour (OK to behave).
func (s *Server) SetFailure(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure == Hang && f != Hang {
		close(s.release)
		s.release = make(chan struct{})
	}
	s.failure = f
}

// Requests returns the requests served so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// record notes a request and returns the failure mode at its arrival.
func (s *Server) record(r *http.Request, scheme string) (Failure, chan struct{}) {
	req := Request{
		Path:         r.URL.Path,
		XrfKeyQuery:  r.URL.Query().Get("xrfkey"),
		XrfKeyHeader: r.Header.Get("X-Qlik-Xrfkey"),
		User:         r.Header.Get("X-Qlik-User"),
		Scheme:       scheme,
		Host:         r.Host,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	return s.failure, s.release
}

// servePlain is the plain http server: it answers the default sessions,
// as an impostor would, to show whether a client trusts it.
func (s *Server) servePlain(w http.ResponseWriter, r *http.Request) {
	s.record(r, "http")
	s.mu.Lock()
	body := s.answers[""]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	failure, release := s.record(r, "https")
	if path, redirected := strings.CutPrefix(r.URL.Path, redirectedPrefix); redirected {
		r.URL.Path, failure = path, OK
	}
	if failure == RedirectToOtherHost && strings.HasPrefix(r.Host, "127.0.0.1:") {
		failure = OK // the other host answers
	}

	// The real API refuses requests whose keys differ or are not 16 chars.
	if key := r.URL.Query().Get("xrfkey"); len(key) != 16 || key != r.Header.Get("X-Qlik-Xrfkey") {
		http.Error(w, "XSRF prevention check failed", http.StatusForbidden)
		return
	}
	prefix, ok := strings.CutPrefix(r.URL.Path, "/qps/")
	if !ok || !strings.HasSuffix(prefix, "session") {
		http.NotFound(w, r)
		return
	}
	prefix = strings.Trim(strings.TrimSuffix(prefix, "session"), "/")
	switch failure {
	case RedirectSameOrigin:
		http.Redirect(w, r, redirectedPrefix+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return
	case RedirectToHTTP:
		http.Redirect(w, r, s.plain.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return
	case RedirectToOtherHost:
		http.Redirect(w, r, s.srv.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect) // https://127.0.0.1:<port>
		return
	case Oversize, OversizeDeclared:
		if failure == OversizeDeclared {
			w.Header().Set("Content-Length", strconv.Itoa(OversizeBytes))
		}
		w.Header().Set("Content-Type", "application/json")
		writeSessions(w, OversizeBytes)
		return
	case Status500:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case Status403:
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	case BadJSON:
		fmt.Fprint(w, `{"not": "an array"`)
		return
	case Hang:
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return
	}
	s.mu.Lock()
	body, known := s.answers[prefix]
	s.mu.Unlock()
	if !known {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

// writeSessions writes a valid JSON session array of exactly n bytes, in
// blocks of 64 KiB.
func writeSessions(w io.Writer, n int) {
	const entry = `{"UserDirectory":"LAB","UserId":"user","SessionId":"00000000-0000-4000-8000-000000000000"},`
	block := []byte(strings.Repeat(entry, 64<<10/len(entry)))
	w.Write([]byte("[")) //nolint:errcheck // the client may hang up
	left := n - len("[") - len(entry) - len("]")
	for left > 0 {
		b := block[:min(len(block), left)]
		if len(b) < len(block) {
			// The last, partial block: whole entries, then blanks (JSON allows
			// them between elements).
			whole := len(b) / len(entry) * len(entry)
			b = append(block[:whole:whole], strings.Repeat(" ", len(b)-whole)...)
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		left -= len(b)
	}
	w.Write([]byte(strings.TrimSuffix(entry, ",") + " ]")) //nolint:errcheck // as above
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial = big.NewInt(time.Now().UnixNano())
var serialMu sync.Mutex

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
