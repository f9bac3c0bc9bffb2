package qrs_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	common_tls "github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func newServer(t *testing.T) *qrstest.Server {
	return qrstest.NewServer(t, readFile(t, "testdata/apps.json"))
}

func tlsConfig(t *testing.T, ca, cert, key string) *tls.Config {
	t.Helper()
	cfg, err := (&common_tls.ClientConfig{TLSCA: ca, TLSCert: cert, TLSKey: key}).TLSConfig()
	require.NoError(t, err)
	return cfg
}

func goodClient(t *testing.T, server *qrstest.Server, timeout time.Duration, userHeader string) *qrs.Client {
	t.Helper()
	client, err := qrs.NewClient(server.URL, tlsConfig(t, server.CAFile, server.ClientCertFile, server.ClientKeyFile), timeout, userHeader)
	require.NoError(t, err)
	return client
}

// The fake answers over mutual TLS only; the client reads id and name of a
// condensed app list, keys the names by the id in lower case and leaves out
// a name with a control character.
func TestApps(t *testing.T) {
	server := newServer(t)
	client := goodClient(t, server, 5*time.Second, "")

	names, err := client.Apps(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"3f1d2c4a-1111-2222-3333-444455556666": "Sales Overview",
		"0f9e8d7c-6b5a-4321-9876-fedcba987654": "Lager, Einkauf & Logistik (Jörg's copy)",
	}, names.Names)
	require.Equal(t, 3, names.Apps)
	require.Equal(t, 1, names.Refused)
	require.Equal(t, "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", names.RefusedExample)
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
		require.Regexp(t, `^[A-Za-z0-9]{16}$`, r.XrfKeyQuery)
		require.Equal(t, r.XrfKeyQuery, r.XrfKeyHeader, "the xrfkey of the query and the header must be one")
	}
	require.Equal(t, qrs.DefaultUserHeader, requests[0].User)
	require.Equal(t, "UserDirectory=INTERNAL; UserId=sa_monitor", requests[1].User)
	require.NotEqual(t, requests[0].XrfKeyQuery, requests[1].XrfKeyQuery, "each request needs a fresh xrfkey")
}

func TestAppsFailures(t *testing.T) {
	server := newServer(t)
	good := tlsConfig(t, server.CAFile, server.ClientCertFile, server.ClientKeyFile)
	tests := []struct {
		name    string
		failure qrstest.Failure
		tls     *tls.Config
		errMsg  []string
	}{
		{name: "HTTP 500", failure: qrstest.Status500, tls: good, errMsg: []string{"HTTP status 500", "internal error"}},
		{name: "HTTP 403", failure: qrstest.Status403, tls: good, errMsg: []string{"HTTP status 403", "client certificate", "user_header"}},
		{name: "bad JSON", failure: qrstest.BadJSON, tls: good, errMsg: []string{"bad JSON", "array of apps"}},
		{name: "timeout", failure: qrstest.Hang, tls: good, errMsg: []string{"timeout"}},
		{name: "client certificate from another CA", tls: tlsConfig(t, server.CAFile, server.RogueCertFile, server.RogueKeyFile), errMsg: []string{"TLS"}},
		{name: "no client certificate", tls: tlsConfig(t, server.CAFile, "", ""), errMsg: []string{"TLS", "client.pem"}},
		{name: "server not signed by tls_ca", tls: tlsConfig(t, "", server.ClientCertFile, server.ClientKeyFile), errMsg: []string{"TLS", "root.pem"}},
		{name: "server signed by another CA than tls_ca", tls: tlsConfig(t, server.RogueCertFile, server.ClientCertFile, server.ClientKeyFile),
			errMsg: []string{"TLS", "root.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server.SetFailure(tt.failure)
			defer server.SetFailure(qrstest.OK)
			client, err := qrs.NewClient(server.URL, tt.tls, 300*time.Millisecond, "")
			require.NoError(t, err)
			names, err := client.Apps(context.Background())
			require.Nil(t, names)
			require.Error(t, err)
			require.ErrorContains(t, err, "GET "+server.URL+"/qrs/app: ")
			require.NotContains(t, err.Error(), "xrfkey=")
			for _, msg := range tt.errMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}
}

// A cancelled context ends a hanging request at once.
func TestAppsCancel(t *testing.T) {
	server := newServer(t)
	server.SetFailure(qrstest.Hang)
	client := goodClient(t, server, time.Hour, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := client.Apps(ctx)
		done <- err
	}()
	server.WaitRequests(t, 1)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled request went on")
	}
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
	client := goodClient(t, server, 5*time.Second, "")
	origin := strings.TrimPrefix(server.URL, "https://")
	port := origin[strings.LastIndex(origin, ":"):]

	t.Run("same origin is followed", func(t *testing.T) {
		server.SetFailure(qrstest.RedirectSameOrigin)
		defer server.SetFailure(qrstest.OK)
		before := len(server.Requests())
		names, err := client.Apps(context.Background())
		require.NoError(t, err)
		require.Len(t, names.Names, 2)
		requests := server.Requests()[before:]
		require.Len(t, requests, 2)
		require.Equal(t, "/redirected/qrs/app", requests[1].Path)
		for _, r := range requests {
			require.Equal(t, "https", r.Scheme)
			require.Equal(t, origin, r.Host)
		}
	})

	tests := []struct {
		name    string
		failure qrstest.Failure
		target  string
	}{
		{"to plain http on another port", qrstest.RedirectToHTTP, "http://127.0.0.1:"},
		{"to another host name", qrstest.RedirectToOtherHost, "https://127.0.0.1" + port + "/qrs/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server.SetFailure(tt.failure)
			defer server.SetFailure(qrstest.OK)
			before := len(server.Requests())
			names, err := client.Apps(context.Background())
			require.Nil(t, names)
			require.ErrorContains(t, err, "refused a redirect to "+tt.target)
			require.ErrorContains(t, err, "it leaves "+server.URL)
			require.NotContains(t, err.Error(), "xrfkey=")
			// Nothing reached the other end: neither the user header and the
			// key, nor a request whose answer could be taken.
			requests := server.Requests()[before:]
			require.Len(t, requests, 1)
			require.Equal(t, "https", requests[0].Scheme)
			require.Equal(t, origin, requests[0].Host)
		})
	}
}

func TestOversizeAnswer(t *testing.T) {
	server := newServer(t)
	client := goodClient(t, server, 30*time.Second, "")
	for name, failure := range map[string]qrstest.Failure{"chunked": qrstest.Oversize, "with Content-Length": qrstest.OversizeDeclared} {
		t.Run(name, func(t *testing.T) {
			server.SetFailure(failure)
			defer server.SetFailure(qrstest.OK)
			_, err := client.Apps(context.Background())
			require.ErrorContains(t, err, "over the size limit of 64 MiB")
		})
	}
	// The client goes on with the next answer.
	names, err := client.Apps(context.Background())
	require.NoError(t, err)
	require.Len(t, names.Names, 2)
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
