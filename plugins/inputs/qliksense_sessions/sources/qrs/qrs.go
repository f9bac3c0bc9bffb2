// Package qrs asks a Qlik Sense repository service (QRS) for the names of
// the site's apps: GET https://<central node>:4242/qrs/app, the condensed
// app list, over mutual TLS with the client certificate exported from the
// QMC.
package qrs

import (
	"bytes"
	"context"
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
	"unicode"
	"unicode/utf8"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/session"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps"
)

// DefaultUserHeader is the X-Qlik-User the API calls are made as: the
// repository's own service account, as in Qlik's QRS examples.
const DefaultUserHeader = "UserDirectory=INTERNAL; UserId=sa_repository"

// Limits on what an answer can make the client hold. A site has thousands
// of apps, not millions: a condensed app is about 400 bytes of JSON, so
// MaxAnswer holds well over MaxApps of them.
const (
	// MaxAnswer bounds the answer read. A longer answer is refused as such.
	MaxAnswer = 64 << 20
	// MaxApps bounds the names kept from one answer; apps past it are
	// counted in Names.OverLimit and left without a name.
	MaxApps = 100_000
	// MaxNameBytes bounds a name (it becomes a tag value); longer names are
	// cut there, on a character boundary, and counted in Names.Truncated.
	MaxNameBytes = 256
)

// maxRedirects is how many redirects within the repository's own scheme,
// host and port a request follows; a redirect anywhere else is refused.
const maxRedirects = 5

// AppPath is the path of the condensed app list (id, name and a few more
// properties per app), below the url's path.
const AppPath = "/qrs/app"

// Names is what one answer said: app names by app id in lower case.
type Names struct {
	Names map[string]string
	// Apps is how many apps the answer listed.
	Apps int
	// Refused counts names left out for being unfit for a tag value: a
	// control character or line separator in them, or an app id that is not
	// a GUID. RefusedExample is the app id of the first (when a GUID).
	Refused        int
	RefusedExample string
	// Unnamed counts apps with an empty name (left out, not refused).
	Unnamed int
	// Truncated counts names cut to MaxNameBytes.
	Truncated int
	// OverLimit counts apps past MaxApps, left out.
	OverLimit int
}

// LeftOut is how many apps of the answer have no name in Names.
func (n *Names) LeftOut() int { return n.Refused + n.Unnamed + n.OverLimit }

// Client calls one repository's app list.
type Client struct {
	base       *url.URL
	userHeader string
	http       *http.Client
}

// NewClient returns a client for the repository at baseURL (scheme, host
// and port, e.g. https://sense-central.example.com:4242).
func NewClient(baseURL string, tlsConfig *tls.Config, timeout time.Duration, userHeader string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w: use e.g. https://sense-central.example.com:4242", baseURL, err)
	}
	if u.Scheme == "http" {
		return nil, fmt.Errorf("url %q is plain http: the repository API answers on https only, and over http the X-Qlik-User header and the xrfkey would travel in clear: use https://%s", baseURL, u.Host)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("url %q is not https://<central node>:4242, e.g. \"https://sense-central.example.com:4242\"", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("url %q has a query or fragment: give only scheme, host and port, e.g. \"https://sense-central.example.com:4242\"", baseURL)
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

// checkRedirect follows a redirect only within the repository's scheme,
// host and port: every request carries X-Qlik-User (the repository's
// service account by default), the xrfkey and the client certificate, so it
// may go nowhere else, and an answer from elsewhere would name the apps.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if !sameOrigin(req.URL, c.base) {
		return &redirectError{fmt.Sprintf("refused a redirect to %s: it leaves %s, and the requests carry X-Qlik-User, the xrfkey and the client certificate (set url to the address the repository answers on itself)",
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

// AppURL is the URL of the app list, without the xrfkey.
func (c *Client) AppURL() string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + AppPath
	u.RawQuery = ""
	return u.String()
}

// Apps asks for the app list and returns the names fit to be tag values.
// Errors say which kind of failure it was: TLS, HTTP status, timeout,
// connection, size or a bad answer.
func (c *Client) Apps(ctx context.Context) (*Names, error) {
	key, err := qps.NewXrfKey()
	if err != nil {
		return nil, err
	}
	target := c.AppURL() + "?xrfkey=" + key
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
		return nil, fmt.Errorf("GET %s: %w", c.AppURL(), redirect)
	}
	if err != nil {
		return nil, c.requestError("", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("GET %s: HTTP status %s: %s%s", c.AppURL(), resp.Status, printable(body), statusHint(resp.StatusCode))
	}
	if resp.ContentLength > MaxAnswer {
		return nil, fmt.Errorf("GET %s: the answer of %d bytes is over the size limit of %d MiB (is url the repository API?)", c.AppURL(), resp.ContentLength, MaxAnswer>>20)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, c.requestError("reading the answer failed: ", err)
	}
	if len(body) > MaxAnswer {
		return nil, fmt.Errorf("GET %s: the answer is over the size limit of %d MiB (is url the repository API?)", c.AppURL(), MaxAnswer>>20)
	}
	names, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: bad JSON answer (want an array of apps): %w", c.AppURL(), err)
	}
	return names, nil
}

// app is what the client reads of an app; the other properties are skipped.
type app struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Parse reads an app list: a JSON array of objects with id and name.
func Parse(body []byte) (*Names, error) { return parse(body, MaxApps) }

func parse(body []byte, maxApps int) (*Names, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('[') {
		return nil, fmt.Errorf("the answer starts with %v, not an array", tok)
	}
	n := &Names{Names: make(map[string]string)}
	for dec.More() {
		var a app
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("app #%d: %w", n.Apps+1, err)
		}
		n.Apps++
		n.add(a, maxApps)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more data after the array")
	}
	return n, nil
}

// add keeps an app's name if it is fit for a tag value.
func (n *Names) add(a app, maxApps int) {
	switch {
	case !session.IsGUID(a.ID) || hasControl(a.Name):
		n.Refused++
		if n.RefusedExample == "" && session.IsGUID(a.ID) {
			n.RefusedExample = a.ID
		}
		return
	case a.Name == "":
		n.Unnamed++
		return
	case len(n.Names) >= maxApps:
		n.OverLimit++
		return
	}
	if len(a.Name) > MaxNameBytes {
		cut := MaxNameBytes
		for cut > 0 && !utf8.RuneStart(a.Name[cut]) {
			cut--
		}
		a.Name = strings.Clone(a.Name[:cut])
		n.Truncated++
	}
	n.Names[strings.ToLower(a.ID)] = a.Name
}

// hasControl tells whether s holds a control character or a line or
// paragraph separator, which have no place in a tag value.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}) >= 0
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

func statusHint(code int) string {
	switch code {
	case http.StatusForbidden, http.StatusUnauthorized:
		return " (check the client certificate exported from the QMC and user_header: the repository answers its own service account, UserDirectory=INTERNAL; UserId=sa_repository)"
	case http.StatusNotFound:
		return " (check url: the repository API is https://<central node>:4242, with no path)"
	}
	return ""
}

// requestError says which kind of failure err was, without the request's
// URL and its xrfkey, keeping err in the chain.
func (c *Client) requestError(what string, err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	kind, hint := describe(err)
	return fmt.Errorf("GET %s: %s%s%w%s", c.AppURL(), what, kind, err, hint)
}

// describe names the kind of a request error and hints at its fix.
func describe(err error) (kind, hint string) {
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
		return "timeout: ", " (raise timeout, or check that the repository answers on this port)"
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr):
		return "TLS: ", " (tls_ca must be the root.pem exported from the QMC; the URL host must match the central node's certificate, or set tls_server_name)"
	case errors.As(err, &recordErr) || errors.As(err, &alert) || strings.Contains(err.Error(), "tls:"):
		return "TLS: ", " (the repository wants client.pem and client_key.pem exported from the QMC as tls_cert and tls_key)"
	case errors.As(err, &netErr):
		return "connection: ", ""
	}
	return "", ""
}
