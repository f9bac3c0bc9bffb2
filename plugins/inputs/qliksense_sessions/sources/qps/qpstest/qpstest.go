// Package qpstest is a fake Qlik Sense proxy session API for tests: HTTPS
// with a client certificate required, both signed by a CA made at run time
// (no key material is committed), xrfkey checks, and switchable failures
// (the fake's core is qlikapitest's).
package qpstest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi/qlikapitest"
)

// Failure makes the server misbehave in one way (or redirect); the
// failures are qlikapitest's, these the ones the plugin's tests set.
type Failure = qlikapitest.Failure

const (
	OK                  = qlikapitest.OK
	Status500           = qlikapitest.Status500      // answer HTTP 500
	BadJSON             = qlikapitest.BadJSON        // answer something that is not a session array
	Hang                = qlikapitest.Hang           // never answer: hang up when the client gives up, or SetFailure ends it
	RedirectToHTTP      = qlikapitest.RedirectToHTTP // where the default sessions are answered to whoever asks
	RedirectToOtherHost = qlikapitest.RedirectToOtherHost
)

// sessionEntry is one session of the Oversize answers.
const sessionEntry = `{"UserDirectory":"LAB","UserId":"user","SessionId":"00000000-0000-4000-8000-000000000000"}`

// Server is a running fake session API; SetAnswer(prefix, body) sets the
// JSON session list of a virtual proxy ("" = the default proxy).
type Server = qlikapitest.Server

// NewServer starts a server; answers maps virtual proxy prefixes to the
// JSON body of their session list. A virtual proxy without one is not
// found.
func NewServer(t testing.TB, answers map[string]string) *Server {
	t.Helper()
	return qlikapitest.NewServer(t, qlikapitest.API{
		Name:       "qpstest",
		Server:     "proxy",
		ClientName: "sa_api",
		Route:      route,
		Entry:      sessionEntry,
	}, answers)
}

// route answers only session lists, /qps/[<prefix>/]session, by their
// virtual proxy prefix.
func route(w http.ResponseWriter, r *http.Request) (string, bool) {
	prefix, ok := strings.CutPrefix(r.URL.Path, "/qps/")
	if !ok || !strings.HasSuffix(prefix, "session") {
		http.NotFound(w, r)
		return "", false
	}
	return strings.Trim(strings.TrimSuffix(prefix, "session"), "/"), true
}

// ManySessions is a session list of n sessions, perUser of each user
// directory\<prefix><number>, each with its own session id: a huge answer.
func ManySessions(n, perUser int, directory, prefix string) string {
	var b strings.Builder
	b.Grow(n * 110)
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"UserDirectory":%q,"UserId":"%s%d","SessionId":"%d"}`, directory, prefix, i/perUser, i)
	}
	b.WriteByte(']')
	return b.String()
}
