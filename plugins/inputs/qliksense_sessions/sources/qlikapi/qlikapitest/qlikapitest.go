// Package qlikapitest is the core of a fake Qlik Sense REST API for tests,
// which the fakes of the proxy's session API (sources/qps/qpstest) and the
// repository's app list (sources/qrs/qrstest) share: HTTPS with a client
// certificate required, both signed by a CA made at run time (no key
// material is committed), xrfkey checks, switchable failures and
// redirects, the answers, and the requests it saw. Which answer a request
// asks for, and what the answers hold, are the fake's.
package qlikapitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	BadJSON           // answer something that is not the API's array
	Hang              // never answer: hang up when the client gives up, or SetFailure ends it
	// RedirectSameOrigin redirects (307) to another path on the same scheme,
	// host and port, which answers normally: a client may follow it.
	RedirectSameOrigin
	// RedirectToHTTP redirects to the same path and query over plain http on
	// another port, where a second server answers to whoever asks (its
	// requests have Scheme "http").
	RedirectToHTTP
	// RedirectToOtherHost redirects to the same server by another name,
	// 127.0.0.1 instead of localhost; the server certificate is valid for
	// both, so a client that follows gets an answer.
	RedirectToOtherHost
	// Oversize answers a valid array of OversizeBytes, sent chunked,
	// without Content-Length.
	Oversize
	// OversizeDeclared is Oversize with the Content-Length header set.
	OversizeDeclared
)

// OversizeBytes is the length of the Oversize answers: 1 MiB past the
// clients' limit, qps.MaxAnswer and qrs.MaxAnswer (64 MiB).
const OversizeBytes = 65 << 20

// redirectedPrefix marks the path a same-origin redirect leads to.
const redirectedPrefix = "/redirected"

// API is what tells one fake API from another.
type API struct {
	// Name names the fake: its CAs are "<Name> root" and "<Name> rogue".
	Name string
	// Server is what answers, for a test's failure: "proxy".
	Server string
	// ClientName is the common name of the client certificate.
	ClientName string
	// Route names the answer a request asks for (see NewServer), or
	// refuses a request the API does not answer (its path or method),
	// writing the refusal, and returns false. It comes after the xrfkey
	// check and before any failure.
	Route func(w http.ResponseWriter, r *http.Request) (answer string, ok bool)
	// Entry is one element of the API's JSON array, for the Oversize
	// answers.
	Entry string
}

// Server is a running fake API.
type Server struct {
	URL string
	// PEM files a client needs: the CA that signed the server, and a client
	// certificate and key signed by the CA the server trusts.
	CAFile, ClientCertFile, ClientKeyFile string
	// Files of a client certificate signed by another CA, which the server
	// refuses.
	RogueCertFile, RogueKeyFile string

	api   API
	srv   *httptest.Server
	plain *httptest.Server // plain http, the target of RedirectToHTTP

	mu       sync.Mutex
	answers  map[string]string // JSON bodies by the names Route gives
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

// NewServer starts a server for api, and stops it when the test ends;
// answers maps the names Route gives a request to the JSON body of their
// answer (a request for one without an answer gets 404). The plain http
// server answers answers[""] to whoever asks, as an impostor would.
func NewServer(t testing.TB, api API, answers map[string]string) *Server {
	t.Helper()
	p := newPKI(t, api.Name, api.ClientName)
	s := &Server{
		CAFile: p.CAFile, ClientCertFile: p.ClientCertFile, ClientKeyFile: p.ClientKeyFile,
		RogueCertFile: p.RogueCertFile, RogueKeyFile: p.RogueKeyFile,
		api: api, answers: answers, arrived: make(chan struct{}), release: make(chan struct{}),
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = p.serverTLS()
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

// SetAnswer sets the JSON body of an answer, by the name Route gives it.
func (s *Server) SetAnswer(name, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[name] = body
}

func (s *Server) answer(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, ok := s.answers[name]
	return body, ok
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
			t.Fatalf("the fake %s saw %d requests, not %d", s.api.Server, seen, n)
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

// servePlain is the plain http server: it answers, as an impostor would,
// to show whether a client trusts it.
func (s *Server) servePlain(w http.ResponseWriter, r *http.Request) {
	s.record(r, "http")
	body, _ := s.answer("")
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
	name, ok := s.api.Route(w, r)
	if !ok {
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
		WriteArray(w, OversizeBytes, s.api.Entry)
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
	body, ok := s.answer(name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

// WriteArray writes a valid JSON array of exactly n bytes of copies of
// entry (one element, without a comma), in blocks of 64 KiB.
func WriteArray(w io.Writer, n int, entry string) {
	entry += ","
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
