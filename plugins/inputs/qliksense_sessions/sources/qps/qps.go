// Package qps asks a Qlik Sense proxy's session API (QPS) which sessions it
// holds: GET https://<proxy>:4243/qps/<virtual proxy prefix>/session.
package qps

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Session is one entry of the API's answer.
type Session struct {
	UserDirectory string `json:"UserDirectory"`
	UserID        string `json:"UserId"`
	SessionID     string `json:"SessionId"`
}

// DefaultUserHeader is the X-Qlik-User the API calls are made as.
const DefaultUserHeader = "UserDirectory=INTERNAL; UserId=sa_api"

// MaxAnswer bounds the answer we read: 64 MiB is several hundred thousand
// sessions. A longer answer is refused as such.
const MaxAnswer = 64 << 20

// maxRedirects is how many redirects within the proxy's own scheme, host and
// port a request follows; a redirect anywhere else is refused.
const maxRedirects = 5

// Client calls one proxy's session API.
type Client struct {
	base       *url.URL
	userHeader string
	http       *http.Client
}

// NewClient returns a client for the proxy at baseURL (scheme, host and
// port, e.g. https://sense1.example.com:4243).
func NewClient(baseURL string, tlsConfig *tls.Config, timeout time.Duration, userHeader string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w: use e.g. https://sense1.example.com:4243", baseURL, err)
	}
	if u.Scheme == "http" {
		return nil, fmt.Errorf("url %q is plain http: the session API answers on https only, and over http the X-Qlik-User header and the xrfkey would travel in clear: use https://%s", baseURL, u.Host)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("url %q: want https://<proxy host>:4243", baseURL)
	}
	if userHeader == "" {
		userHeader = DefaultUserHeader
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	c := &Client{base: u, userHeader: userHeader}
	c.http = &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: c.checkRedirect}
	return c, nil
}

// redirectError is a redirect the client refused to follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// checkRedirect follows a redirect only within the proxy's scheme, host and
// port: every request carries X-Qlik-User, the xrfkey and the client
// certificate, and its answer becomes the server's sessions, so neither may
// go to, or come from, anywhere else.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if !sameOrigin(req.URL, c.base) {
		return &redirectError{fmt.Sprintf("refused a redirect to %s: it leaves %s, and the requests carry X-Qlik-User, the xrfkey and the client certificate (set url to the address the proxy answers on itself)",
			withoutQuery(req.URL), origin(c.base))}
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

// SessionURL is the session list URL of a virtual proxy ("" = the default
// proxy), without the xrfkey.
func (c *Client) SessionURL(virtualProxy string) string {
	u := *c.base
	path := strings.TrimRight(u.Path, "/") + "/qps/"
	if prefix := strings.Trim(virtualProxy, "/"); prefix != "" {
		path += prefix + "/"
	}
	u.Path = path + "session"
	u.RawQuery = ""
	return u.String()
}

// Sessions lists the sessions of a virtual proxy ("" = the default proxy).
// Errors say which kind of failure it was: TLS, HTTP status, timeout,
// connection or a bad answer.
func (c *Client) Sessions(ctx context.Context, virtualProxy string) ([]Session, error) {
	key, err := NewXrfKey()
	if err != nil {
		return nil, err
	}
	target := c.SessionURL(virtualProxy) + "?xrfkey=" + key
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Qlik-Xrfkey", key)
	req.Header.Set("X-Qlik-User", c.userHeader)
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	var redirect *redirectError
	if errors.As(err, &redirect) {
		return nil, fmt.Errorf("GET %s: %w", c.SessionURL(virtualProxy), redirect)
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: %s", c.SessionURL(virtualProxy), describe(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("GET %s: HTTP status %s: %s%s", c.SessionURL(virtualProxy), resp.Status, strings.TrimSpace(string(body)), statusHint(resp.StatusCode))
	}
	if resp.ContentLength > MaxAnswer {
		return nil, fmt.Errorf("GET %s: the answer of %d bytes is over the size limit of %d MiB (is url the proxy's session API?)", c.SessionURL(virtualProxy), resp.ContentLength, MaxAnswer>>20)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the answer failed: %s", c.SessionURL(virtualProxy), describe(err))
	}
	if len(body) > MaxAnswer {
		return nil, fmt.Errorf("GET %s: the answer is over the size limit of %d MiB (is url the proxy's session API?)", c.SessionURL(virtualProxy), MaxAnswer>>20)
	}
	var sessions []Session
	if err := json.Unmarshal(body, &sessions); err != nil {
		return nil, fmt.Errorf("GET %s: bad JSON answer (want an array of sessions): %s", c.SessionURL(virtualProxy), describe(err))
	}
	return sessions, nil
}

func statusHint(code int) string {
	switch code {
	case http.StatusForbidden, http.StatusUnauthorized:
		return " (check the client certificate exported from the QMC and user_header)"
	case http.StatusNotFound:
		return " (check url and virtual_proxies: the prefix must be a virtual proxy of this proxy)"
	}
	return ""
}

// describe names the kind of a request error.
func describe(err error) string {
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return "timeout: " + err.Error() + " (raise timeout, or check that the proxy answers on this port)"
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr):
		return "TLS: " + err.Error() + " (tls_ca must be the root.pem exported from the QMC; the URL host must match the proxy certificate)"
	case errors.As(err, &recordErr) || errors.As(err, &alert) || strings.Contains(err.Error(), "tls:"):
		return "TLS: " + err.Error() + " (the proxy wants client.pem and client_key.pem exported from the QMC as tls_cert and tls_key)"
	case errors.As(err, &netErr):
		return "connection: " + err.Error()
	}
	return err.Error()
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
