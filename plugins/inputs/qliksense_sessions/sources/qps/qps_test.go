package qps_test

import (
	"context"
	"crypto/tls"
	_ "embed"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi/qlikapitest"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

// The fake's answers: the session lists of the default proxy and of the
// virtual proxy hdr, and what the client makes of them.
var (
	//go:embed testdata/sessions_default.json
	defaultAnswer string
	//go:embed testdata/sessions_hdr.json
	hdrAnswer string

	defaultSessions = []qps.Session{
		{UserDirectory: "LAB", UserID: "anna", SessionID: "2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01"},
		{UserDirectory: "LAB", UserID: "anna", SessionID: "9b0e2d4c-1f3a-4e5b-8c6d-7e8f9a0b1c2d"},
		{UserDirectory: "CORP", UserID: "bob", SessionID: "5a6b7c8d-9e0f-4a1b-2c3d-4e5f6a7b8c9d"},
	}
	hdrSessions = []qps.Session{{UserDirectory: "CORP", UserID: "carl", SessionID: "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"}}
)

func newServer(t *testing.T) *qpstest.Server {
	return qpstest.NewServer(t, map[string]string{"": defaultAnswer, "hdr": hdrAnswer})
}

// sessions is Sessions of a virtual proxy, for qlikapitest's checks of a
// client; want is its answer.
func sessions(server *qpstest.Server, virtualProxy string, want []qps.Session) qlikapitest.Client {
	path := "/qps/"
	if virtualProxy != "" {
		path += virtualProxy + "/"
	}
	return qlikapitest.Client{
		Path: path + "session",
		New: func(t testing.TB, tlsConfig *tls.Config, timeout time.Duration) qlikapitest.Call {
			client, err := qps.NewClient(server.URL, tlsConfig, timeout, "")
			require.NoError(t, err)
			return func(ctx context.Context) (any, error) { return client.Sessions(ctx, virtualProxy) }
		},
		Want: want,
	}
}

func TestSessions(t *testing.T) {
	server := newServer(t)
	client, err := qps.NewClient(server.URL, server.ClientTLS(t), 5*time.Second, "")
	require.NoError(t, err)

	sessions, err := client.Sessions(context.Background(), "")
	require.NoError(t, err)
	require.Equal(t, defaultSessions, sessions)

	sessions, err = client.Sessions(context.Background(), "/hdr/")
	require.NoError(t, err)
	require.Equal(t, hdrSessions, sessions)

	requests := server.Requests()
	require.Len(t, requests, 2)
	require.Equal(t, "/qps/session", requests[0].Path)
	require.Equal(t, "/qps/hdr/session", requests[1].Path)
	for _, r := range requests {
		require.Equal(t, qps.DefaultUserHeader, r.User)
	}
	qlikapitest.CheckXrfKeys(t, requests)
}

func TestSessionsFailures(t *testing.T) {
	server := newServer(t)
	server.CheckFailures(t, sessions(server, "", nil), server.Failures(t, "array of sessions")...)
	server.CheckFailures(t, sessions(server, "nope", nil),
		qlikapitest.FailureCase{Name: "unknown virtual proxy", ErrMsg: []string{"HTTP status 404", "virtual_proxies"}})
}

// A cancelled context ends a hanging request at once.
func TestSessionsCancel(t *testing.T) {
	server := newServer(t)
	server.CheckCancel(t, sessions(server, "", nil))
}

func TestSessionURL(t *testing.T) {
	client, err := qps.NewClient("https://sense1.example.com:4243", nil, time.Second, "")
	require.NoError(t, err)
	require.Equal(t, "https://sense1.example.com:4243/qps/session", client.SessionURL(""))
	require.Equal(t, "https://sense1.example.com:4243/qps/hdr/session", client.SessionURL("hdr"))
	require.Equal(t, "https://sense1.example.com:4243/qps/hdr/session", client.SessionURL("/hdr/"))

	for _, bad := range []string{"sense1:4243", "ftp://sense1", "https://"} {
		_, err := qps.NewClient(bad, nil, time.Second, "")
		require.Error(t, err, bad)
	}
	_, err = qps.NewClient("http://sense1.example.com:4243", nil, time.Second, "")
	require.ErrorContains(t, err, `url "http://sense1.example.com:4243" is plain http`)
	require.ErrorContains(t, err, "use https://sense1.example.com:4243")
}

func TestRedirects(t *testing.T) {
	server := newServer(t)
	server.CheckRedirectFollowed(t, sessions(server, "hdr", hdrSessions))
	server.CheckRedirectsRefused(t, sessions(server, "", nil))
}

func TestOversizeAnswer(t *testing.T) {
	server := newServer(t)
	server.CheckOversize(t, sessions(server, "", defaultSessions))
}

func TestXrfKey(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 100; i++ {
		key, err := qps.NewXrfKey()
		require.NoError(t, err)
		require.Regexp(t, `^[A-Za-z0-9]{16}$`, key)
		require.False(t, seen[key])
		seen[key] = true
	}
}

// A null answer is no list of sessions: taken as an empty one, it would
// end every session of the server. It is refused like {}.
func TestSessionsNullAnswer(t *testing.T) {
	for _, answer := range []string{"null", " null\n", "{}"} {
		server := qpstest.NewServer(t, map[string]string{"": answer})
		client, err := qps.NewClient(server.URL, server.ClientTLS(t), 5*time.Second, "")
		require.NoError(t, err)
		sessions, err := client.Sessions(context.Background(), "")
		require.ErrorContains(t, err, "bad JSON answer (want an array of sessions)", "%q", answer)
		require.Nil(t, sessions)
	}
}

// Names with a control character are no Qlik Sense names: UDP, the log
// files and the state file refuse them, and so does the session API's
// client, with the same check (event.HasControl).
func TestSessionsRefuseControlCharacters(t *testing.T) {
	server := qpstest.NewServer(t, map[string]string{"": `[{"UserDirectory":"LAB","UserId":"anna","SessionId":"1"},` +
		`{"UserDirectory":"LAB","UserId":"an\nna","SessionId":"2"},{"UserDirectory":"L\u0007AB","UserId":"bob","SessionId":"3"},` +
		`{"UserDirectory":"LAB","UserId":"carl\u0085","SessionId":"4"},{"UserDirectory":"LAB","UserId":"dan\u007f","SessionId":"5"},` +
		`{"UserDirectory":"LAB","UserId":"\u00e9mile","SessionId":"6"}]`})
	client, err := qps.NewClient(server.URL, server.ClientTLS(t), 5*time.Second, "")
	require.NoError(t, err)
	sessions, err := client.Sessions(context.Background(), "")
	require.NoError(t, err)
	require.Equal(t, []qps.Session{
		{UserDirectory: "LAB", UserID: "anna", SessionID: "1"},
		{UserDirectory: "LAB", UserID: "émile", SessionID: "6"},
	}, sessions)
}

// Users folds the answer per user as it decodes, ignoring case, keeps at
// most maxUsers users and counts the sessions of the others, and of names
// that are none.
func TestUsers(t *testing.T) {
	server := qpstest.NewServer(t, map[string]string{"": `[{"UserDirectory":"LAB","UserId":"anna","SessionId":"1"},` +
		`{"UserDirectory":"lab","UserId":"ANNA","SessionId":"2"},{"UserDirectory":"LAB","UserId":"bob","SessionId":"3"},` +
		`{"UserDirectory":"LAB","UserId":"carl","SessionId":"4"},{"UserDirectory":"LAB","UserId":"carl","SessionId":"5"},` +
		`{"UserDirectory":"LAB","UserId":"Anna","SessionId":"6"},{"UserDirectory":"","UserId":"x","SessionId":"7"},` +
		`{"UserDirectory":"LAB","UserId":"b\tob","SessionId":"8"}]`})
	client, err := qps.NewClient(server.URL, server.ClientTLS(t), 5*time.Second, "")
	require.NoError(t, err)

	answer, err := client.Users(context.Background(), "", 2)
	require.NoError(t, err)
	require.Equal(t, &qps.Answer{
		Users:           []qps.UserSessions{{UserDirectory: "LAB", UserID: "anna", Sessions: 3}, {UserDirectory: "LAB", UserID: "bob", Sessions: 1}},
		RefusedMaxUsers: 2, Invalid: 2,
	}, answer)

	answer, err = client.Users(context.Background(), "", 0)
	require.NoError(t, err)
	require.Len(t, answer.Users, 3)
	require.Zero(t, answer.RefusedMaxUsers)

	for _, bad := range []string{"null", "{}", `"x"`, `[{"UserId":1}]`, "[] []", "[{}"} {
		server.SetAnswer("", bad)
		_, err = client.Users(context.Background(), "", 2)
		require.ErrorContains(t, err, "bad JSON answer (want an array of sessions)", bad)
	}
}
