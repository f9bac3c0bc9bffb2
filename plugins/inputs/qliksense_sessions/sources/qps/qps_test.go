package qps_test

import (
	"context"
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	common_tls "github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func newServer(t *testing.T) *qpstest.Server {
	return qpstest.NewServer(t, map[string]string{
		"":    readFile(t, "testdata/sessions_default.json"),
		"hdr": readFile(t, "testdata/sessions_hdr.json"),
	})
}

func tlsConfig(t *testing.T, ca, cert, key string) *tls.Config {
	t.Helper()
	cfg, err := (&common_tls.ClientConfig{TLSCA: ca, TLSCert: cert, TLSKey: key}).TLSConfig()
	require.NoError(t, err)
	return cfg
}

func TestSessions(t *testing.T) {
	server := newServer(t)
	client, err := qps.NewClient(server.URL, tlsConfig(t, server.CAFile, server.ClientCertFile, server.ClientKeyFile), 5*time.Second, "")
	require.NoError(t, err)

	sessions, err := client.Sessions(context.Background(), "")
	require.NoError(t, err)
	require.Equal(t, []qps.Session{
		{UserDirectory: "LAB", UserID: "anna", SessionID: "2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01"},
		{UserDirectory: "LAB", UserID: "anna", SessionID: "9b0e2d4c-1f3a-4e5b-8c6d-7e8f9a0b1c2d"},
		{UserDirectory: "CORP", UserID: "bob", SessionID: "5a6b7c8d-9e0f-4a1b-2c3d-4e5f6a7b8c9d"},
	}, sessions)

	sessions, err = client.Sessions(context.Background(), "/hdr/")
	require.NoError(t, err)
	require.Equal(t, []qps.Session{{UserDirectory: "CORP", UserID: "carl", SessionID: "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"}}, sessions)

	requests := server.Requests()
	require.Len(t, requests, 2)
	require.Equal(t, "/qps/session", requests[0].Path)
	require.Equal(t, "/qps/hdr/session", requests[1].Path)
	for _, r := range requests {
		require.Len(t, r.XrfKeyQuery, 16)
		require.Equal(t, r.XrfKeyQuery, r.XrfKeyHeader)
		require.Equal(t, qps.DefaultUserHeader, r.User)
	}
	require.NotEqual(t, requests[0].XrfKeyQuery, requests[1].XrfKeyQuery, "each request needs a fresh xrfkey")
}

func TestSessionsFailures(t *testing.T) {
	server := newServer(t)
	good := tlsConfig(t, server.CAFile, server.ClientCertFile, server.ClientKeyFile)
	tests := []struct {
		name         string
		failure      qpstest.Failure
		tls          *tls.Config
		virtualProxy string
		errMsg       []string
	}{
		{name: "HTTP 500", failure: qpstest.Status500, tls: good, errMsg: []string{"HTTP status 500"}},
		{name: "HTTP 403", failure: qpstest.Status403, tls: good, errMsg: []string{"HTTP status 403", "client certificate"}},
		{name: "unknown virtual proxy", tls: good, virtualProxy: "nope", errMsg: []string{"HTTP status 404", "virtual_proxies"}},
		{name: "bad JSON", failure: qpstest.BadJSON, tls: good, errMsg: []string{"bad JSON"}},
		{name: "timeout", failure: qpstest.Hang, tls: good, errMsg: []string{"timeout"}},
		{name: "client certificate from another CA", tls: tlsConfig(t, server.CAFile, server.RogueCertFile, server.RogueKeyFile), errMsg: []string{"TLS"}},
		{name: "no client certificate", tls: tlsConfig(t, server.CAFile, "", ""), errMsg: []string{"TLS", "client.pem"}},
		{name: "server not signed by tls_ca", tls: tlsConfig(t, "", server.ClientCertFile, server.ClientKeyFile), errMsg: []string{"TLS", "root.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server.SetFailure(tt.failure)
			defer server.SetFailure(qpstest.OK)
			client, err := qps.NewClient(server.URL, tt.tls, 300*time.Millisecond, "")
			require.NoError(t, err)
			_, err = client.Sessions(context.Background(), tt.virtualProxy)
			require.Error(t, err)
			require.ErrorContains(t, err, "GET "+client.SessionURL(tt.virtualProxy)+": ")
			require.NotContains(t, err.Error(), "xrfkey=")
			for _, msg := range tt.errMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}
}

// A cancelled context ends a hanging request at once.
func TestSessionsCancel(t *testing.T) {
	server := newServer(t)
	server.SetFailure(qpstest.Hang)
	client, err := qps.NewClient(server.URL, tlsConfig(t, server.CAFile, server.ClientCertFile, server.ClientKeyFile), time.Hour, "")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := client.Sessions(ctx, "")
		done <- err
	}()
	server.WaitRequests(t, 1)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "cancelled")
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled request went on")
	}
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
	client, err := qps.NewClient(server.URL, tlsConfig(t, server.CAFile, server.ClientCertFile, server.ClientKeyFile), 5*time.Second, "")
	require.NoError(t, err)
	origin := strings.TrimPrefix(server.URL, "https://")
	port := origin[strings.LastIndex(origin, ":"):]

	t.Run("same origin is followed", func(t *testing.T) {
		server.SetFailure(qpstest.RedirectSameOrigin)
		defer server.SetFailure(qpstest.OK)
		before := len(server.Requests())
		sessions, err := client.Sessions(context.Background(), "hdr")
		require.NoError(t, err)
		require.Equal(t, []qps.Session{{UserDirectory: "CORP", UserID: "carl", SessionID: "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"}}, sessions)
		requests := server.Requests()[before:]
		require.Len(t, requests, 2)
		require.Equal(t, "/redirected/qps/hdr/session", requests[1].Path)
		for _, r := range requests {
			require.Equal(t, "https", r.Scheme)
			require.Equal(t, origin, r.Host)
		}
	})

	tests := []struct {
		name    string
		failure qpstest.Failure
		target  string
	}{
		{"to plain http on another port", qpstest.RedirectToHTTP, "http://127.0.0.1:"},
		{"to another host name", qpstest.RedirectToOtherHost, "https://127.0.0.1" + port + "/qps/session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server.SetFailure(tt.failure)
			defer server.SetFailure(qpstest.OK)
			before := len(server.Requests())
			sessions, err := client.Sessions(context.Background(), "")
			require.Nil(t, sessions)
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
	client, err := qps.NewClient(server.URL, tlsConfig(t, server.CAFile, server.ClientCertFile, server.ClientKeyFile), 30*time.Second, "")
	require.NoError(t, err)
	for name, failure := range map[string]qpstest.Failure{"chunked": qpstest.Oversize, "with Content-Length": qpstest.OversizeDeclared} {
		t.Run(name, func(t *testing.T) {
			server.SetFailure(failure)
			defer server.SetFailure(qpstest.OK)
			_, err := client.Sessions(context.Background(), "")
			require.ErrorContains(t, err, "over the size limit of 64 MiB")
		})
	}
	// The client goes on with the next answer.
	sessions, err := client.Sessions(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, sessions, 3)
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
