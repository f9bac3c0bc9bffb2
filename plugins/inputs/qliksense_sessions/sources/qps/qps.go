// Package qps asks a Qlik Sense proxy's session API (QPS) which sessions it
// holds: GET https://<proxy>:4243/qps/<virtual proxy prefix>/session.
package qps

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

// Sessions lists the sessions of a virtual proxy ("" = the default proxy),
// but for those whose directory or user id is empty or holds a control
// character. Errors say which kind of failure it was: TLS, HTTP status,
// timeout, connection, size or a bad answer.
func (c *Client) Sessions(ctx context.Context, virtualProxy string) ([]Session, error) {
	var sessions []Session
	err := c.decode(ctx, virtualProxy, func(s *Session) {
		if validNames(s) {
			sessions = append(sessions, *s)
		}
	})
	if err != nil {
		return nil, err
	}
	return sessions, nil
}

// UserSessions are one user's sessions in an answer.
type UserSessions struct {
	UserDirectory, UserID string // as the first of them spells them
	Sessions              int
}

// Answer is what the plugin keeps of a session API answer: the sessions
// per user, at most MaxUsers users.
type Answer struct {
	Users []UserSessions // in the order of the answer
	// RefusedMaxUsers counts the sessions of the users beyond the limit.
	RefusedMaxUsers int
	// Invalid counts the sessions whose directory or user id is empty or
	// holds a control character.
	Invalid int
}

// Users is Sessions folded per user (ignoring case, as the state does), as
// it decodes: it keeps at most maxUsers users (0: no limit) and counts the
// sessions of the others, so that a huge answer costs no more than its
// bytes.
func (c *Client) Users(ctx context.Context, virtualProxy string, maxUsers int) (*Answer, error) {
	answer := &Answer{}
	index := make(map[string]int)
	var key []byte
	err := c.decode(ctx, virtualProxy, func(s *Session) {
		if !validNames(s) {
			answer.Invalid++
			return
		}
		key = foldCase(append(foldCase(key[:0], s.UserDirectory), '\\'), s.UserID)
		if i, ok := index[string(key)]; ok {
			answer.Users[i].Sessions++
			return
		}
		if maxUsers > 0 && len(answer.Users) >= maxUsers {
			answer.RefusedMaxUsers++
			return
		}
		index[string(key)] = len(answer.Users)
		answer.Users = append(answer.Users, UserSessions{UserDirectory: s.UserDirectory, UserID: s.UserID, Sessions: 1})
	})
	if err != nil {
		return nil, err
	}
	return answer, nil
}

// decode gets a virtual proxy's session list and hands each session to
// each, one at a time (the same Session, overwritten), without keeping the
// list.
func (c *Client) decode(ctx context.Context, virtualProxy string, each func(*Session)) error {
	target := c.SessionURL(virtualProxy)
	body, err := c.api.Get(ctx, target)
	if err != nil {
		return err
	}
	bad := func(err error) error {
		return fmt.Errorf("GET %s: bad JSON answer (want an array of sessions): %w", target, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	// null would decode as no sessions, and end every session of the
	// server: it is no answer, like {}.
	if tok, err := dec.Token(); err != nil {
		return bad(err)
	} else if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return bad(fmt.Errorf("the answer starts with %v", tokenText(tok)))
	}
	var s Session
	for dec.More() {
		s = Session{}
		if err := dec.Decode(&s); err != nil {
			return bad(err)
		}
		each(&s)
	}
	if _, err := dec.Token(); err != nil {
		return bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad(errors.New("more after the array"))
	}
	return nil
}

// tokenText names a JSON token for an error.
func tokenText(tok json.Token) string {
	if tok == nil {
		return "null"
	}
	if delim, ok := tok.(json.Delim); ok {
		return string(delim)
	}
	return fmt.Sprintf("%T", tok)
}

// validNames tells whether a session's directory and user id are names:
// not empty, and without a control character, which every source refuses
// alike (event.HasControl).
func validNames(s *Session) bool {
	return s.UserDirectory != "" && s.UserID != "" && !event.HasControl(s.UserDirectory) && !event.HasControl(s.UserID)
}

// foldCase appends s in lower case to dst, rune by rune, as the state
// folds names.
func foldCase(dst []byte, s string) []byte {
	for _, r := range s {
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
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
