// Package qrstest is a fake Qlik Sense repository API (QRS) app list for
// tests: HTTPS with a client certificate required, both signed by a CA made
// at run time (no key material is committed), xrfkey checks, and
// switchable failures.
package qrstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
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
	BadJSON           // answer something that is not an app array
	Hang              // never answer: hang up when the client gives up, or SetFailure ends it
	// RedirectSameOrigin redirects (307) to another path on the same scheme,
	// host and port, which answers normally: a client may follow it.
	RedirectSameOrigin
	// RedirectToHTTP redirects to the same path and query over plain http on
	// another port, where a second server answers the app list to whoever
	// asks (its requests have Scheme "http").
	RedirectToHTTP
	// RedirectToOtherHost redirects to the same server by another name,
	// 127.0.0.1 instead of localhost; the server certificate is valid for
	// both, so a client that follows gets an answer.
	RedirectToOtherHost
	// Oversize answers a valid app array of OversizeBytes, sent chunked,
	// without Content-Length.
	Oversize
	// OversizeDeclared is Oversize with the Content-Length header set.
	OversizeDeclared
)

// OversizeBytes is the length of the Oversize answers: 1 MiB past the
// client's limit, qrs.MaxAnswer (64 MiB).
const OversizeBytes = 65 << 20

// redirectedPrefix marks the path a same-origin redirect leads to.
const redirectedPrefix = "/redirected"

// Server is a running fake repository API.
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
	answer   string
	failure  Failure
	requests []Request
	arrived  chan struct{} // closed and replaced at each request
	release  chan struct{} // closed when a Hang ends
}

// Request is what the server saw of one request.
type Request struct {
	Method, Path, XrfKeyQuery, XrfKeyHeader, User string
	// Scheme is "https", or "http" for the plain server; Host is the Host
	// header (localhost:<port>, 127.0.0.1:<port> after RedirectToOtherHost).
	Scheme, Host string
}

// App is one app of an answer.
type App struct{ ID, Name string }

// Answer is the JSON of a condensed app list as the repository writes it
// (GET /qrs/app): the id and name the client reads, and the other
// properties of a condensed app, which it must skip.
func Answer(apps ...App) string {
	type stream struct {
		ID         string  `json:"id"`
		Name       string  `json:"name"`
		Privileges *string `json:"privileges"`
	}
	type condensed struct {
		ID                    string  `json:"id"`
		Name                  string  `json:"name"`
		AppID                 string  `json:"appId"`
		PublishTime           string  `json:"publishTime"`
		Published             bool    `json:"published"`
		Stream                *stream `json:"stream"`
		SavedInProductVersion string  `json:"savedInProductVersion"`
		MigrationHash         string  `json:"migrationHash"`
		AvailabilityStatus    int     `json:"availabilityStatus"`
		Privileges            *string `json:"privileges"`
	}
	list := make([]condensed, 0, len(apps))
	for i, a := range apps {
		c := condensed{ID: a.ID, Name: a.Name, PublishTime: "1753-01-01T00:00:00.000Z",
			SavedInProductVersion: "12.1306.0", MigrationHash: "b5d4e7c1a9f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9"}
		if i%2 == 1 {
			c.Published, c.PublishTime = true, "2026-03-02T09:15:00.000Z"
			c.Stream = &stream{ID: "aaec8d41-5201-43ab-809f-3063750dfafd", Name: "Everyone"}
		}
		list = append(list, c)
	}
	b, err := json.Marshal(list)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// NewServer starts a server that answers the app list with answer (JSON).
func NewServer(t testing.TB, answer string) *Server {
	t.Helper()
	dir := t.TempDir()
	ca := newCA(t, "qrstest root")
	rogue := newCA(t, "qrstest rogue")
	s := &Server{answer: answer, arrived: make(chan struct{}), release: make(chan struct{})}

	serverCert := ca.issue(t, "localhost", true)
	clientCert := ca.issue(t, "QlikClient", false)
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

// SetAnswer sets the JSON app list.
func (s *Server) SetAnswer(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = body
}

// SetFailure switches the misbehaviour (OK to behave); leaving Hang ends
// the hanging requests.
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

// WaitRequests waits until the server has seen n requests (a request that
// hangs counts from its arrival), and fails the test after 10 s.
func (s *Server) WaitRequests(t testing.TB, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		seen, arrived := len(s.requests), s.arrived
		s.mu.Unlock()
		if seen >= n {
			return
		}
		select {
		case <-arrived:
		case <-timeout.C:
			t.Fatalf("the fake repository saw %d requests, not %d", seen, n)
		}
	}
}

// record notes a request and returns the failure mode at its arrival.
func (s *Server) record(r *http.Request, scheme string) (Failure, chan struct{}) {
	req := Request{
		Method:       r.Method,
		Path:         r.URL.Path,
		XrfKeyQuery:  xrfKeyQuery(r),
		XrfKeyHeader: r.Header.Get("X-Qlik-Xrfkey"),
		User:         r.Header.Get("X-Qlik-User"),
		Scheme:       scheme,
		Host:         r.Host,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return s.failure, s.release
}

// xrfKeyQuery is the xrfkey parameter; its name is matched ignoring case
// (Qlik's examples write Xrfkey, most clients xrfkey).
func xrfKeyQuery(r *http.Request) string {
	for name, values := range r.URL.Query() {
		if strings.EqualFold(name, "xrfkey") && len(values) > 0 {
			return values[0]
		}
	}
	return ""
}

// servePlain is the plain http server: it answers the app list, as an
// impostor would, to show whether a client trusts it.
func (s *Server) servePlain(w http.ResponseWriter, r *http.Request) {
	s.record(r, "http")
	s.mu.Lock()
	body := s.answer
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
	if key := xrfKeyQuery(r); len(key) != 16 || key != r.Header.Get("X-Qlik-Xrfkey") {
		http.Error(w, "XSRF prevention check failed. Possible XSRF discovered.", http.StatusForbidden)
		return
	}
	if r.URL.Path != "/qrs/app" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
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
		writeApps(w, OversizeBytes)
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
		// Never a response: an empty 200 that raced the client's timeout
		// would reach it as a bad answer.
		panic(http.ErrAbortHandler)
	}
	s.mu.Lock()
	body := s.answer
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

// writeApps writes a valid JSON app array of exactly n bytes, in blocks of
// 64 KiB.
func writeApps(w io.Writer, n int) {
	const entry = `{"id":"00000000-0000-4000-8000-000000000000","name":"Sales","appId":"","published":false},`
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
