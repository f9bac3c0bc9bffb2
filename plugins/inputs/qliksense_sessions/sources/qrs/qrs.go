// Package qrs asks a Qlik Sense repository service (QRS) for the names of
// the site's apps: GET https://<central node>:4242/qrs/app, the condensed
// app list, over mutual TLS with the client certificate exported from the
// QMC.
package qrs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi"
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

// AppPath is the path of the condensed app list (id, name and a few more
// properties per app), below the url's path.
const AppPath = "/qrs/app"

// Names is what one answer said: app names by app id in lower case.
type Names struct {
	Names map[string]string
	// Streams are the apps' streams by app id in lower case (streams.go).
	Streams map[string]Stream
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

// api is the repository API, for qlikapi.
var api = qlikapi.API{
	Server:      "repository",
	Name:        "the repository API",
	Form:        "https://<central node>:4242",
	Example:     "https://sense-central.example.com:4242",
	RefuseQuery: true,
	URLIs:       "the repository API",
	CertHost:    "the central node's certificate, or set tls_server_name",
	UserHeader:  DefaultUserHeader,
	MaxAnswer:   MaxAnswer,
	StatusHint:  statusHint,
}

// Client calls one repository's app list.
type Client struct {
	api *qlikapi.Client
}

// ParseURL checks that baseURL is the repository API's https URL, as NewClient
// does.
func ParseURL(baseURL string) (*url.URL, error) { return qlikapi.ParseURL(api, baseURL) }

// NewClient returns a client for the repository at baseURL (scheme, host
// and port, e.g. https://sense-central.example.com:4242). Requests follow
// redirects only within the repository's scheme, host and port: every
// request carries X-Qlik-User (the repository's service account by
// default), the xrfkey and the client certificate, so it may go nowhere
// else, and an answer from elsewhere would name the apps.
func NewClient(baseURL string, tlsConfig *tls.Config, timeout time.Duration, userHeader string) (*Client, error) {
	c, err := qlikapi.NewClient(api, baseURL, tlsConfig, timeout, userHeader)
	if err != nil {
		return nil, err
	}
	return &Client{api: c}, nil
}

// AppURL is the URL of the app list, without the xrfkey.
func (c *Client) AppURL() string { return c.api.URL(AppPath) }

// Apps asks for the app list and returns the names fit to be tag values.
// Errors say which kind of failure it was: TLS, HTTP status, timeout,
// connection, size or a bad answer.
func (c *Client) Apps(ctx context.Context) (*Names, error) {
	return qlikapi.GetJSON(ctx, c.api, c.AppURL(), "an array of apps", Parse)
}

// app is what the client reads of an app; the other properties are skipped.
type app struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Stream *streamRef `json:"stream"`
}

// Parse reads an app list: a JSON array of objects with id and name.
func Parse(body []byte) (*Names, error) { return parseAtMost(body, MaxApps) }

// parseAtMost is Parse with a limit of maxApps names.
func parseAtMost(body []byte, maxApps int) (*Names, error) {
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
		n.addStream(a, maxApps)
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
	case !event.IsGUID(a.ID) || hasControl(a.Name):
		n.Refused++
		if n.RefusedExample == "" && event.IsGUID(a.ID) {
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
		a.Name = cutName(a.Name)
		n.Truncated++
	}
	n.Names[strings.ToLower(a.ID)] = a.Name
}

// cutName cuts a name to MaxNameBytes, on a character boundary.
func cutName(name string) string {
	if len(name) <= MaxNameBytes {
		return name
	}
	cut := MaxNameBytes
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return strings.Clone(name[:cut])
}

// hasControl tells whether s holds a control character or a line or
// paragraph separator, which have no place in a tag value.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}) >= 0
}

func statusHint(code int) string {
	switch code {
	case http.StatusForbidden, http.StatusUnauthorized:
		return " (check the client certificate exported from the QMC and user_header: " +
			"the repository answers its own service account, UserDirectory=INTERNAL; UserId=sa_repository)"
	case http.StatusNotFound:
		return " (check url: the repository API is https://<central node>:4242, with no path)"
	}
	return ""
}
