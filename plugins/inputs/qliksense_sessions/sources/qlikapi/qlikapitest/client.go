package qlikapitest

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	common_tls "github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/stretchr/testify/require"
)

// The checks below are what every client of a fake API must pass, since
// they share the core in package qlikapi: the failures it names, a
// cancelled request, the redirects it follows and refuses, an answer over
// the size limit, and fresh xrfkeys. A client's own tests run them with a
// Client that makes and calls it.

// Client is the client under test of the checks.
type Client struct {
	// Path is the path it asks, e.g. "/qrs/app".
	Path string
	// New makes a client for the server's URL with tlsConfig and timeout.
	New func(t testing.TB, tlsConfig *tls.Config, timeout time.Duration) Call
	// Want is what its Call returns for the fake's answer.
	Want any
}

// Call asks the API once: what the client made of the answer (a nil on an
// error), and the error.
type Call func(ctx context.Context) (any, error)

// ClientTLS is the TLS configuration of a client with the PEM files ca,
// cert and key ("" for none), made by Telegraf's common TLS client
// configuration as the plugin makes it.
func ClientTLS(t testing.TB, ca, cert, key string) *tls.Config {
	t.Helper()
	cfg, err := (&common_tls.ClientConfig{TLSCA: ca, TLSCert: cert, TLSKey: key}).TLSConfig()
	require.NoError(t, err)
	return cfg
}

// ClientTLS is the TLS configuration of a client that trusts the server and
// that the server trusts.
func (s *Server) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	return ClientTLS(t, s.CAFile, s.ClientCertFile, s.ClientKeyFile)
}

// FailureCase is a way a call fails, and what its error must say.
type FailureCase struct {
	Name    string
	Failure Failure
	// TLS is the client's; nil for ClientTLS.
	TLS    *tls.Config
	ErrMsg []string
}

// Failures are the failures every client names alike: HTTP statuses, a bad
// answer (whose error says it wants badJSON, e.g. "array of apps"), a
// timeout, and TLS refused by either side.
func (s *Server) Failures(t testing.TB, badJSON string) []FailureCase {
	t.Helper()
	return []FailureCase{
		{Name: "HTTP 500", Failure: Status500, ErrMsg: []string{"HTTP status 500", "internal error"}},
		{Name: "HTTP 403", Failure: Status403, ErrMsg: []string{"HTTP status 403", "client certificate", "user_header"}},
		{Name: "bad JSON", Failure: BadJSON, ErrMsg: []string{"bad JSON", badJSON}},
		{Name: "timeout", Failure: Hang, ErrMsg: []string{"timeout"}},
		{Name: "client certificate from another CA", TLS: ClientTLS(t, s.CAFile, s.RogueCertFile, s.RogueKeyFile), ErrMsg: []string{"TLS"}},
		{Name: "no client certificate", TLS: ClientTLS(t, s.CAFile, "", ""), ErrMsg: []string{"TLS", "client.pem"}},
		{Name: "server not signed by tls_ca", TLS: ClientTLS(t, "", s.ClientCertFile, s.ClientKeyFile), ErrMsg: []string{"TLS", "root.pem"}},
		{Name: "server signed by another CA than tls_ca", TLS: ClientTLS(t, s.RogueCertFile, s.ClientCertFile, s.ClientKeyFile),
			ErrMsg: []string{"TLS", "root.pem"}},
	}
}

// CheckFailures calls once per case, each time with a fresh client with a
// short timeout: the call fails, with an error that names the request
// without its xrfkey, and says each of the case's ErrMsg.
func (s *Server) CheckFailures(t *testing.T, c Client, cases ...FailureCase) {
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			s.SetFailure(tt.Failure)
			defer s.SetFailure(OK)
			tlsConfig := tt.TLS
			if tlsConfig == nil {
				tlsConfig = s.ClientTLS(t)
			}
			answer, err := c.New(t, tlsConfig, 300*time.Millisecond)(context.Background())
			require.Nil(t, answer)
			require.Error(t, err)
			require.ErrorContains(t, err, "GET "+s.URL+c.Path+": ")
			require.NotContains(t, err.Error(), "xrfkey=")
			for _, msg := range tt.ErrMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}
}

// CheckCancel requires a cancelled context to end a hanging request at
// once, with an error that says so.
func (s *Server) CheckCancel(t *testing.T, c Client) {
	t.Helper()
	s.SetFailure(Hang)
	defer s.SetFailure(OK)
	call := c.New(t, s.ClientTLS(t), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	before := len(s.Requests())
	go func() {
		_, err := call(ctx)
		done <- err
	}()
	s.WaitRequests(t, before+1)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "cancelled")
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled request went on")
	}
}

// CheckRedirectFollowed requires a redirect within the server's scheme,
// host and port to be followed to the answer.
func (s *Server) CheckRedirectFollowed(t *testing.T, c Client) {
	t.Run("same origin is followed", func(t *testing.T) {
		call := c.New(t, s.ClientTLS(t), 5*time.Second)
		s.SetFailure(RedirectSameOrigin)
		defer s.SetFailure(OK)
		before := len(s.Requests())
		answer, err := call(context.Background())
		require.NoError(t, err)
		require.Equal(t, c.Want, answer)
		requests := s.Requests()[before:]
		require.Len(t, requests, 2)
		require.Equal(t, redirectedPrefix+c.Path, requests[1].Path)
		for _, r := range requests {
			require.Equal(t, "https", r.Scheme)
			require.Equal(t, s.origin(), r.Host)
		}
	})
}

// CheckRedirectsRefused requires a redirect to plain http or to another
// host name to be refused, with nothing reaching the other end.
func (s *Server) CheckRedirectsRefused(t *testing.T, c Client) {
	origin := s.origin()
	port := origin[strings.LastIndex(origin, ":"):]
	for _, tt := range []struct {
		name    string
		failure Failure
		target  string
	}{
		{"to plain http on another port", RedirectToHTTP, "http://127.0.0.1:"},
		{"to another host name", RedirectToOtherHost, "https://127.0.0.1" + port + c.Path},
	} {
		t.Run(tt.name, func(t *testing.T) {
			call := c.New(t, s.ClientTLS(t), 5*time.Second)
			s.SetFailure(tt.failure)
			defer s.SetFailure(OK)
			before := len(s.Requests())
			answer, err := call(context.Background())
			require.Nil(t, answer)
			require.ErrorContains(t, err, "refused a redirect to "+tt.target)
			require.ErrorContains(t, err, "it leaves "+s.URL)
			require.NotContains(t, err.Error(), "xrfkey=")
			// Nothing reached the other end: neither the user header and the
			// key, nor a request whose answer could be taken.
			requests := s.Requests()[before:]
			require.Len(t, requests, 1)
			require.Equal(t, "https", requests[0].Scheme)
			require.Equal(t, origin, requests[0].Host)
		})
	}
}

// CheckOversize requires an answer over the size limit to be refused as
// such, with or without Content-Length, and the client to go on with the
// next answer.
func (s *Server) CheckOversize(t *testing.T, c Client) {
	call := c.New(t, s.ClientTLS(t), 30*time.Second)
	for name, failure := range map[string]Failure{"chunked": Oversize, "with Content-Length": OversizeDeclared} {
		t.Run(name, func(t *testing.T) {
			s.SetFailure(failure)
			defer s.SetFailure(OK)
			_, err := call(context.Background())
			require.ErrorContains(t, err, "over the size limit of 64 MiB")
		})
	}
	answer, err := call(context.Background())
	require.NoError(t, err)
	require.Equal(t, c.Want, answer)
}

// CheckXrfKeys requires each request to carry one key in its query and its
// header, 16 letters and digits, and no two requests the same.
func CheckXrfKeys(t testing.TB, requests []Request) {
	t.Helper()
	seen := make(map[string]bool)
	for _, r := range requests {
		require.Regexp(t, `^[A-Za-z0-9]{16}$`, r.XrfKeyQuery)
		require.Equal(t, r.XrfKeyQuery, r.XrfKeyHeader, "the xrfkey of the query and the header must be one")
		require.False(t, seen[r.XrfKeyQuery], "each request needs a fresh xrfkey")
		seen[r.XrfKeyQuery] = true
	}
}

// origin is the server's host and port, as in its URL.
func (s *Server) origin() string { return strings.TrimPrefix(s.URL, "https://") }

// ConfigKeys are the keys of a plugin's proxy or repository block that
// point it at this server, with the client certificate it trusts: url,
// tls_cert, tls_key and tls_ca, each on a line indented by four spaces.
func (s *Server) ConfigKeys() string {
	return fmt.Sprintf("    url = %q\n    tls_cert = %q\n    tls_key = %q\n    tls_ca = %q\n", s.URL, s.ClientCertFile, s.ClientKeyFile, s.CAFile)
}
