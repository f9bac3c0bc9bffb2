package qrs_test

import (
	"context"
	"crypto/tls"
	_ "embed"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi/qlikapitest"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

//go:embed testdata/apps.json
var appsAnswer string

func newServer(t *testing.T) *qrstest.Server { return qrstest.NewServer(t, appsAnswer) }

func goodClient(t *testing.T, server *qrstest.Server, timeout time.Duration, userHeader string) *qrs.Client {
	t.Helper()
	client, err := qrs.NewClient(server.URL, server.ClientTLS(t), timeout, userHeader)
	require.NoError(t, err)
	return client
}

// fixtureNames is what the client makes of appsAnswer.
var fixtureNames = &qrs.Names{
	Names: map[string]string{
		"3f1d2c4a-1111-2222-3333-444455556666": "Sales Overview",
		"0f9e8d7c-6b5a-4321-9876-fedcba987654": "Lager, Einkauf & Logistik (Jörg's copy)",
	},
	// Streams name every app with a GUID, named or not.
	Streams: map[string]qrs.Stream{
		"3f1d2c4a-1111-2222-3333-444455556666": {ID: "aaec8d41-5201-43ab-809f-3063750dfafd", Name: "Everyone"},
		"0f9e8d7c-6b5a-4321-9876-fedcba987654": {Name: qrs.Unpublished},
		"7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d": {Name: qrs.Unpublished},
	},
	Apps:           3,
	Refused:        1,
	RefusedExample: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
}

// apps is Apps, for qlikapitest's checks of a client.
func apps(server *qrstest.Server) qlikapitest.Client {
	return qlikapitest.Client{
		Path: "/qrs/app",
		New: func(t testing.TB, tlsConfig *tls.Config, timeout time.Duration) qlikapitest.Call {
			client, err := qrs.NewClient(server.URL, tlsConfig, timeout, "")
			require.NoError(t, err)
			return func(ctx context.Context) (any, error) { return client.Apps(ctx) }
		},
		Want: fixtureNames,
	}
}

// The fake answers over mutual TLS only; the client reads id and name of a
// condensed app list, keys the names by the id in lower case and leaves out
// a name with a control character.
func TestApps(t *testing.T) {
	server := newServer(t)
	client := goodClient(t, server, 5*time.Second, "")

	names, err := client.Apps(context.Background())
	require.NoError(t, err)
	require.Equal(t, fixtureNames, names)
	require.Equal(t, 1, names.LeftOut())

	custom := goodClient(t, server, 5*time.Second, "UserDirectory=INTERNAL; UserId=sa_monitor")
	_, err = custom.Apps(context.Background())
	require.NoError(t, err)

	requests := server.Requests()
	require.Len(t, requests, 2)
	for _, r := range requests {
		require.Equal(t, "GET", r.Method)
		require.Equal(t, "/qrs/app", r.Path)
		require.Equal(t, "https", r.Scheme)
	}
	qlikapitest.CheckXrfKeys(t, requests)
	require.Equal(t, qrs.DefaultUserHeader, requests[0].User)
	require.Equal(t, "UserDirectory=INTERNAL; UserId=sa_monitor", requests[1].User)
}

func TestAppsFailures(t *testing.T) {
	server := newServer(t)
	server.CheckFailures(t, apps(server), server.Failures(t, "array of apps")...)
}

// A cancelled context ends a hanging request at once.
func TestAppsCancel(t *testing.T) {
	server := newServer(t)
	server.CheckCancel(t, apps(server))
}

func TestNewClient(t *testing.T) {
	client, err := qrs.NewClient("https://sense-central.example.com:4242", nil, time.Second, "")
	require.NoError(t, err)
	require.Equal(t, "https://sense-central.example.com:4242/qrs/app", client.AppURL())
	client, err = qrs.NewClient("https://sense-central.example.com:4242/", nil, time.Second, "")
	require.NoError(t, err)
	require.Equal(t, "https://sense-central.example.com:4242/qrs/app", client.AppURL())

	for _, bad := range []string{"sense-central:4242", "ftp://sense-central", "https://", "https://sense-central:4242/?x=1", "https://sense-central:4242/#x"} {
		_, err := qrs.NewClient(bad, nil, time.Second, "")
		require.Error(t, err, bad)
		require.ErrorContains(t, err, "https://sense-central.example.com:4242", bad)
	}
	_, err = qrs.NewClient("http://sense-central.example.com:4242", nil, time.Second, "")
	require.ErrorContains(t, err, `url "http://sense-central.example.com:4242" is plain http`)
	require.ErrorContains(t, err, "use https://sense-central.example.com:4242")
}

func TestRedirects(t *testing.T) {
	server := newServer(t)
	server.CheckRedirectFollowed(t, apps(server))
	server.CheckRedirectsRefused(t, apps(server))
}

func TestOversizeAnswer(t *testing.T) {
	server := newServer(t)
	server.CheckOversize(t, apps(server))
}

// Names are untrusted: they become tag values.
func TestParseNames(t *testing.T) {
	const id = "3f1d2c4a-1111-2222-3333-4444555566%02d"
	long := strings.Repeat("é", qrs.MaxNameBytes) // 2 bytes each
	tests := []struct {
		name     string
		app      qrstest.App
		kept     string // "" = left out
		refused  bool
		cut      bool
		unnamed  bool
		upperKey bool
	}{
		{name: "plain", app: qrstest.App{Name: "Sales"}, kept: "Sales"},
		{name: "spaces, commas, quotes, equals, backslash", app: qrstest.App{Name: `a b,c="d"\`}, kept: `a b,c="d"\`},
		{name: "emoji and CJK", app: qrstest.App{Name: "売上 📈"}, kept: "売上 📈"},
		{name: "newline", app: qrstest.App{Name: "Sales\nEvil"}, refused: true},
		{name: "carriage return", app: qrstest.App{Name: "Sales\r"}, refused: true},
		{name: "tab", app: qrstest.App{Name: "Sales\tQ1"}, refused: true},
		{name: "NUL", app: qrstest.App{Name: "Sales\x00"}, refused: true},
		{name: "escape", app: qrstest.App{Name: "\x1b[31mSales"}, refused: true},
		{name: "DEL", app: qrstest.App{Name: "Sales\x7f"}, refused: true},
		{name: "C1 control", app: qrstest.App{Name: "Sales\u0085"}, refused: true},
		{name: "line separator", app: qrstest.App{Name: "Sales\u2028Evil"}, refused: true},
		{name: "paragraph separator", app: qrstest.App{Name: "Sales\u2029"}, refused: true},
		{name: "empty", app: qrstest.App{Name: ""}, unnamed: true},
		{name: "long, cut on a character boundary", app: qrstest.App{Name: long}, kept: long[:qrs.MaxNameBytes], cut: true},
		{name: "long, cut inside a character", app: qrstest.App{Name: "x" + long}, kept: "x" + long[:qrs.MaxNameBytes-2], cut: true},
		{name: "exactly the limit", app: qrstest.App{Name: strings.Repeat("n", qrs.MaxNameBytes)}, kept: strings.Repeat("n", qrs.MaxNameBytes)},
		{name: "id not a GUID", app: qrstest.App{ID: "../../etc", Name: "Sales"}, refused: true},
		{name: "id empty", app: qrstest.App{ID: "-", Name: "Sales"}, refused: true},
		{name: "id in upper case", app: qrstest.App{ID: "3F1D2C4A-1111-2222-3333-444455556600", Name: "Sales"}, kept: "Sales", upperKey: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.app
			switch app.ID {
			case "":
				app.ID = fmt.Sprintf(id, i)
			case "-":
				app.ID = ""
			}
			names, err := qrs.Parse([]byte(qrstest.Answer(app)))
			require.NoError(t, err)
			require.Equal(t, 1, names.Apps)
			if tt.kept == "" {
				require.Empty(t, names.Names)
			} else {
				require.Equal(t, map[string]string{strings.ToLower(app.ID): tt.kept}, names.Names)
				require.True(t, utf8.ValidString(names.Names[strings.ToLower(app.ID)]))
			}
			require.Equal(t, tt.refused, names.Refused == 1, "refused")
			require.Equal(t, tt.cut, names.Truncated == 1, "truncated")
			require.Equal(t, tt.unnamed, names.Unnamed == 1, "unnamed")
			if tt.refused && app.ID == fmt.Sprintf(id, i) {
				require.Equal(t, app.ID, names.RefusedExample)
			}
			require.Zero(t, names.OverLimit)
		})
	}
}

func TestParseBadJSON(t *testing.T) {
	for _, body := range []string{
		``, `{}`, `{"id":"x"}`, `"apps"`, `null`, `[`, `[{"id": 1, "name": "x"}]`, `[{"id":"3f1d2c4a-1111-2222-3333-444455556666","name":"x"}`,
		`[] []`, `[{"name": "x"},]`, `[1]`,
	} {
		_, err := qrs.Parse([]byte(body))
		require.Error(t, err, body)
	}
	for _, body := range []string{`[]`, ` [ ] `, "[]\n"} {
		names, err := qrs.Parse([]byte(body))
		require.NoError(t, err, body)
		require.Empty(t, names.Names)
	}
}
