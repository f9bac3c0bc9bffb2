// Package qlikapi is the core of a client of a Qlik Sense REST API, which
// the proxy's session API (sources/qps) and the repository's app list
// (sources/qrs) share: a base URL on https only; an http.Client that
// follows redirects only within that server's scheme, host and port; per
// request a fresh xrfkey in the query and the X-Qlik-Xrfkey header, and
// the X-Qlik-User header; an answer read up to a size limit; and errors
// that name the kind of failure (TLS, HTTP status, timeout, connection,
// size) and hint at its fix, without the xrfkey.
package qlikapi

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// API describes one API: its defaults, and the words its errors use.
type API struct {
	// Server is what answers: "proxy", "repository" (in "the <Server>
	// answers on this port").
	Server string
	// Name is the API: "the session API" (in "<Name> answers on https
	// only").
	Name string
	// Form is the URL's form, e.g. "https://<proxy host>:4243"; Example
	// is one, e.g. "https://sense1.example.com:4243".
	Form, Example string
	// RefuseQuery refuses a URL with a query or fragment.
	RefuseQuery bool
	// URLIs is what url should be, asked of an answer over the size
	// limit: "the proxy's session API" (in "is url <URLIs>?").
	URLIs string
	// CertHost is the certificate the URL host must match, with any
	// other way out: "the proxy certificate".
	CertHost string
	// UserHeader is the X-Qlik-User the calls are made as by default.
	UserHeader string
	// MaxAnswer bounds the answer read, in bytes; a longer one is refused
	// as such.
	MaxAnswer int64
	// StatusHint hints at the fix of an HTTP status other than 200 (""
	// for none).
	StatusHint func(code int) string
}

// maxRedirects is how many redirects within the server's own scheme, host
// and port a request follows; a redirect anywhere else is refused.
const maxRedirects = 5

// Client calls one server's API.
type Client struct {
	api        API
	base       *url.URL
	userHeader string
	http       *http.Client
}

// NewClient returns a client for the server at baseURL (scheme, host and
// port, e.g. api.Example), calling as userHeader (api.UserHeader if "").
func NewClient(api API, baseURL string, tlsConfig *tls.Config, timeout time.Duration, userHeader string) (*Client, error) {
	u, err := ParseURL(api, baseURL)
	if err != nil {
		return nil, err
	}
	if userHeader == "" {
		userHeader = api.UserHeader
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	c := &Client{api: api, base: u, userHeader: userHeader}
	c.http = &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: c.checkRedirect}
	return c, nil
}

// ParseURL checks that baseURL is the API's https URL (scheme, host and
// port), with an error that says what it should be.
func ParseURL(api API, baseURL string) (*url.URL, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w: use e.g. %s", baseURL, err, api.Example)
	}
	if u.User != nil {
		// Every error names the url: it must not carry a password.
		bare := *u
		bare.User = nil
		return nil, fmt.Errorf("url %q has a user name or password before the host: %s authenticates callers by the client certificate "+
			"(tls_cert, tls_key), not by credentials in the url, which would show in every log line naming it: remove them, url = %q",
			bare.String(), api.Name, bare.String())
	}
	if u.Scheme == "http" {
		return nil, fmt.Errorf("url %q is plain http: %s answers on https only, "+
			"and over http the X-Qlik-User header and the xrfkey would travel in clear: use https://%s", baseURL, api.Name, u.Host)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("url %q is not %s, e.g. %q", baseURL, api.Form, api.Example)
	}
	if api.RefuseQuery && (u.RawQuery != "" || u.Fragment != "") {
		return nil, fmt.Errorf("url %q has a query or fragment: give only scheme, host and port, e.g. %q", baseURL, api.Example)
	}
	return u, nil
}

// URL is the URL of path (which starts with "/") below the base URL's
// path, without a query and so without the xrfkey.
func (c *Client) URL(path string) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = ""
	return u.String()
}

// GetJSON asks for target (Get) and reads the answer with parse; a parse
// failure is "GET <target>: bad JSON answer (want <want>): <cause>".
func GetJSON[T any](ctx context.Context, c *Client, target, want string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	body, err := c.Get(ctx, target)
	if err != nil {
		return zero, err
	}
	v, err := parse(body)
	if err != nil {
		return zero, fmt.Errorf("GET %s: bad JSON answer (want %s): %w", target, want, err)
	}
	return v, nil
}

// Get asks for target, a URL that URL made, and returns the answer: the
// body of a 200 of at most MaxAnswer bytes. Errors start "GET <target>: "
// and say which kind of failure it was: TLS, HTTP status, timeout,
// connection or size.
func (c *Client) Get(ctx context.Context, target string) ([]byte, error) {
	key, err := NewXrfKey()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"?xrfkey="+key, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Qlik-Xrfkey", key)
	req.Header.Set("X-Qlik-User", c.userHeader)
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	var redirect *redirectError
	if errors.As(err, &redirect) {
		return nil, fmt.Errorf("GET %s: %w", target, redirect)
	}
	if err != nil {
		return nil, c.requestError(target, "", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200)) //nolint:errcheck // for the message: what arrived before an error will do
		hint := ""
		if c.api.StatusHint != nil {
			hint = c.api.StatusHint(resp.StatusCode)
		}
		return nil, &StatusError{Code: resp.StatusCode, msg: fmt.Sprintf("GET %s: HTTP status %s: %s%s", target, resp.Status, printable(body), hint)}
	}
	limit := c.api.MaxAnswer
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("GET %s: the answer of %d bytes is over the size limit of %d MiB (is url %s?)",
			target, resp.ContentLength, limit>>20, c.api.URLIs)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, c.requestError(target, "reading the answer failed: ", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: the answer is over the size limit of %d MiB (is url %s?)", target, limit>>20, c.api.URLIs)
	}
	return body, nil
}

// redirectError is a redirect the client refused to follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// checkRedirect follows a redirect only within the server's scheme, host
// and port: every request carries X-Qlik-User, the xrfkey and the client
// certificate, so it may go nowhere else, and an answer from elsewhere
// would be taken for the server's.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if !sameOrigin(req.URL, c.base) {
		return &redirectError{fmt.Sprintf("refused a redirect to %s: it leaves %s, "+
			"and the requests carry X-Qlik-User, the xrfkey and the client certificate (set url to the address the %s answers on itself)",
			withoutQuery(req.URL), origin(c.base), c.api.Server)}
	}
	if len(via) >= maxRedirects {
		return &redirectError{fmt.Sprintf("stopped after %d redirects (the last to %s)", maxRedirects, withoutQuery(req.URL))}
	}
	return nil
}

// sameOrigin compares scheme, host (ignoring case) and port (the scheme's
// default when none is given).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

func origin(u *url.URL) string { return strings.ToLower(u.Scheme) + "://" + u.Host }

func withoutQuery(u *url.URL) string {
	v := *u
	v.RawQuery, v.Fragment, v.User = "", "", nil
	return v.String()
}

// printable is the start of an error answer, for a log line: control
// characters become spaces.
func printable(body []byte) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(body), "?")))
}

// requestError says which kind of failure err was, without the request's
// URL and its xrfkey, keeping err in the chain.
func (c *Client) requestError(target, what string, err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	kind, hint := c.describe(err)
	return fmt.Errorf("GET %s: %s%s%w%s", target, what, kind, err, hint)
}

// describe names the kind of a request error and hints at its fix.
func (c *Client) describe(err error) (kind, hint string) {
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled: ", ""
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return "timeout: ", " (raise timeout, or check that the " + c.api.Server + " answers on this port)"
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr):
		return "TLS: ", " (tls_ca must be the root.pem exported from the QMC; the URL host must match " + c.api.CertHost + ")"
	case errors.As(err, &recordErr) || errors.As(err, &alert) || strings.Contains(err.Error(), "tls:"):
		return "TLS: ", " (the " + c.api.Server + " wants client.pem and client_key.pem exported from the QMC as tls_cert and tls_key)"
	case errors.As(err, &netErr):
		return "connection: ", ""
	}
	return "", ""
}

// NewXrfKey returns a fresh 16-character key against cross-site request
// forgery; the API wants the same key in the query and the header.
func NewXrfKey() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("making an xrfkey failed: %w", err)
	}
	for i, b := range raw {
		raw[i] = alphabet[int(b)%len(alphabet)]
	}
	return string(raw[:]), nil
}
