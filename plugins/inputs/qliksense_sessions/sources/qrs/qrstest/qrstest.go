// Package qrstest is a fake Qlik Sense repository API (QRS) app list for
// tests: HTTPS with a client certificate required, both signed by a CA made
// at run time (no key material is committed), xrfkey checks, and
// switchable failures (the fake's core is qlikapitest's).
package qrstest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi/qlikapitest"
)

// The failures are qlikapitest's; these are the ones the plugin's tests
// set.
const (
	OK        = qlikapitest.OK
	Status500 = qlikapitest.Status500 // answer HTTP 500
	BadJSON   = qlikapitest.BadJSON   // answer something that is not an app array
	Hang      = qlikapitest.Hang      // never answer: hang up when the client gives up, or SetFailure ends it
)

// appEntry is one app of the Oversize answers.
const appEntry = `{"id":"00000000-0000-4000-8000-000000000000","name":"Sales","appId":"","published":false}`

// Server is a running fake repository API.
type Server struct {
	*qlikapitest.Server
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

// NewServer starts a server that answers the app list with answer (JSON),
// which is also what the plain http server of RedirectToHTTP answers to
// whoever asks.
func NewServer(t testing.TB, answer string) *Server {
	t.Helper()
	return &Server{qlikapitest.NewServer(t, qlikapitest.API{
		Name:       "qrstest",
		Server:     "repository",
		ClientName: "QlikClient",
		Route:      route,
		Entry:      appEntry,
	}, map[string]string{"": answer})}
}

// SetAnswer sets the JSON app list.
func (s *Server) SetAnswer(body string) { s.Server.SetAnswer("", body) }

// route answers GET /qrs/app, and the licence endpoints (license.go)
// that have an answer.
func route(w http.ResponseWriter, r *http.Request) (string, bool) {
	if licensePaths[r.URL.Path] && r.Method == http.MethodGet {
		return r.URL.Path, true
	}
	if r.URL.Path != "/qrs/app" {
		http.NotFound(w, r)
		return "", false
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return "", false
	}
	return "", true
}
