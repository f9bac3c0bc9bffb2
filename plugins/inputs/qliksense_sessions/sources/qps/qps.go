// Package qps asks a Qlik Sense proxy's session API (QPS) which sessions it
// holds: GET https://<proxy>:4243/qps/<virtual proxy prefix>/session.
package qps

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi"
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

// api is the session API, for qlikapi.
var api = qlikapi.API{
	Server:     "proxy",
	Name:       "the session API",
	Form:       "https://<proxy host>:4243",
	Example:    "https://sense1.example.com:4243",
	URLIs:      "the proxy's session API",
	CertHost:   "the proxy certificate",
	UserHeader: DefaultUserHeader,
	MaxAnswer:  MaxAnswer,
	StatusHint: statusHint,
}

// Client calls one proxy's session API.
type Client struct {
	api *qlikapi.Client
}

// ParseURL checks that baseURL is the proxy's session API's https URL, as NewClient
// does.
func ParseURL(baseURL string) (*url.URL, error) { return qlikapi.ParseURL(api, baseURL) }

// NewClient returns a client for the proxy at baseURL (scheme, host and
// port, e.g. https://sense1.example.com:4243). Requests follow redirects
// only within the proxy's scheme, host and port: every request carries
// X-Qlik-User, the xrfkey and the client certificate, and its answer
// becomes the server's sessions, so neither may go to, or come from,
// anywhere else.
func NewClient(baseURL string, tlsConfig *tls.Config, timeout time.Duration, userHeader string) (*Client, error) {
	c, err := qlikapi.NewClient(api, baseURL, tlsConfig, timeout, userHeader)
	if err != nil {
		return nil, err
	}
	return &Client{api: c}, nil
}

// SessionURL is the session list URL of a virtual proxy ("" = the default
// proxy), without the xrfkey.
func (c *Client) SessionURL(virtualProxy string) string {
	path := "/qps/"
	if prefix := strings.Trim(virtualProxy, "/"); prefix != "" {
		path += prefix + "/"
	}
	return c.api.URL(path + "session")
}

// Sessions lists the sessions of a virtual proxy ("" = the default proxy).
// Errors say which kind of failure it was: TLS, HTTP status, timeout,
// connection, size or a bad answer.
func (c *Client) Sessions(ctx context.Context, virtualProxy string) ([]Session, error) {
	target := c.SessionURL(virtualProxy)
	body, err := c.api.Get(ctx, target)
	if err != nil {
		return nil, err
	}
	// null would decode as no sessions, and end every session of the
	// server: it is no answer, like {}.
	if string(bytes.TrimSpace(body)) == "null" {
		return nil, fmt.Errorf("GET %s: bad JSON answer (want an array of sessions): null", target)
	}
	var sessions []Session
	if err := json.Unmarshal(body, &sessions); err != nil {
		return nil, fmt.Errorf("GET %s: bad JSON answer (want an array of sessions): %w", target, err)
	}
	// A name with a control character is no Qlik Sense name: every source
	// refuses it alike.
	kept := sessions[:0]
	for _, s := range sessions {
		if !event.HasControl(s.UserDirectory) && !event.HasControl(s.UserID) {
			kept = append(kept, s)
		}
	}
	return kept, nil
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

// NewXrfKey returns a fresh 16-character key against cross-site request
// forgery; the API wants the same key in the query and the header.
func NewXrfKey() (string, error) { return qlikapi.NewXrfKey() }
