// Package qpstest is a fake Qlik Sense proxy session API for tests: HTTPS
// with a client certificate required, both signed by a CA made at run time
// (no key material is committed), xrfkey checks, and switchable failures
// (the fake's core is qlikapitest's).
package qpstest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi/qlikapitest"
)

// Failure makes the server misbehave in one way (or redirect); see
// qlikapitest for each.
type Failure = qlikapitest.Failure

const (
	OK                  = qlikapitest.OK
	Status500           = qlikapitest.Status500 // answer HTTP 500
	Status403           = qlikapitest.Status403 // answer HTTP 403
	BadJSON             = qlikapitest.BadJSON   // answer something that is not a session array
	Hang                = qlikapitest.Hang      // never answer: hang up when the client gives up, or SetFailure ends it
	RedirectSameOrigin  = qlikapitest.RedirectSameOrigin
	RedirectToHTTP      = qlikapitest.RedirectToHTTP // where the default sessions are answered to whoever asks
	RedirectToOtherHost = qlikapitest.RedirectToOtherHost
	Oversize            = qlikapitest.Oversize // a valid session array of OversizeBytes
	OversizeDeclared    = qlikapitest.OversizeDeclared
)

// OversizeBytes is the length of the Oversize answers: 1 MiB past the
// client's limit, qps.MaxAnswer (64 MiB).
const OversizeBytes = qlikapitest.OversizeBytes

// Request is what the server saw of one request.
type Request = qlikapitest.Request

// sessionEntry is one session of the Oversize answers.
const sessionEntry = `{"UserDirectory":"LAB","UserId":"user","SessionId":"00000000-0000-4000-8000-000000000000"}`

// Server is a running fake session API.
type Server struct {
	*qlikapitest.Server

	mu      sync.Mutex
	answers map[string]string // by virtual proxy prefix ("" = default)
}

// NewServer starts a server; answers maps virtual proxy prefixes to the
// JSON body of their session list.
func NewServer(t testing.TB, answers map[string]string) *Server {
	t.Helper()
	s := &Server{answers: answers}
	s.Server = qlikapitest.NewServer(t, qlikapitest.API{
		Name:       "qpstest",
		Server:     "proxy",
		ClientName: "sa_api",
		Route:      route,
		Answer:     s.answer,
		Impostor:   func() string { return s.answerOf("") },
		Entry:      sessionEntry,
	})
	return s
}

// SetAnswer sets the JSON session list of a virtual proxy.
func (s *Server) SetAnswer(prefix, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[prefix] = body
}

func (s *Server) answerOf(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers[prefix]
}

// prefix is the virtual proxy prefix of a session list path,
// /qps/[<prefix>/]session; false for another path.
func prefix(path string) (string, bool) {
	prefix, ok := strings.CutPrefix(path, "/qps/")
	if !ok || !strings.HasSuffix(prefix, "session") {
		return "", false
	}
	return strings.Trim(strings.TrimSuffix(prefix, "session"), "/"), true
}

// route answers only session lists.
func route(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := prefix(r.URL.Path); !ok {
		http.NotFound(w, r)
		return false
	}
	return true
}

// answer is the session list of the virtual proxy asked for; 404 for one
// without an answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	p, _ := prefix(r.URL.Path)
	s.mu.Lock()
	body, known := s.answers[p]
	s.mu.Unlock()
	if !known {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}
