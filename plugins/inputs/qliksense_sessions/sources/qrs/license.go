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
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi"
)

// The repository's licence endpoints (QRS API, "License"), below the url's
// path.
const (
	// OverviewPath is the access types' overview: what is allocated, used
	// and left of each kind of licence.
	OverviewPath = "/qrs/license/accesstypeoverview"
	// LicensePath is the server licence (serial, signed key or LEF, expiry).
	LicensePath = "/qrs/license"
	// ProfessionalPath and AnalyzerPath are the allocations of professional
	// and analyzer access, one entry per user who holds one.
	ProfessionalPath = "/qrs/license/professionalaccesstype/full"
	AnalyzerPath     = "/qrs/license/analyzeraccesstype/full"
)

// Limits on the licence answers. The overview and the server licence are a
// few KiB; an allocation entry of the full lists is about 700 bytes, so
// MaxAnswer holds well over 50,000 of them (the entry count is bounded by
// the caller's max, max_users).
const (
	MaxLicenseAnswer = 1 << 20
)

// licenseAPI is the repository API for the overview and the server
// licence; listAPI for the allocation lists, which may be long.
var (
	licenseAPI = withLimit(api, MaxLicenseAnswer)
	listAPI    = withLimit(api, MaxAnswer)
)

func withLimit(a qlikapi.API, limit int64) qlikapi.API {
	a.MaxAnswer = limit
	a.StatusHint = licenseStatusHint
	return a
}

func licenseStatusHint(code int) string {
	if code == http.StatusNotFound {
		return " (this repository has no such endpoint: Qlik Sense versions before the access types answer 404)"
	}
	return statusHint(code)
}

// IsNotThere tells whether err is the repository's 404 for an endpoint it
// does not have (an older Sense version): asking again will not help.
func IsNotThere(err error) bool {
	var status *qlikapi.StatusError
	return errors.As(err, &status) && status.Code == http.StatusNotFound
}

// LicenseClient calls one repository's licence endpoints.
type LicenseClient struct {
	small, lists *qlikapi.Client
}

// NewLicenseClient returns a licence client for the repository at baseURL,
// with NewClient's rules: https only, redirects only within the
// repository's scheme, host and port, a fresh xrfkey per request.
func NewLicenseClient(baseURL string, tlsConfig *tls.Config, timeout time.Duration, userHeader string) (*LicenseClient, error) {
	small, err := qlikapi.NewClient(licenseAPI, baseURL, tlsConfig, timeout, userHeader)
	if err != nil {
		return nil, err
	}
	lists, err := qlikapi.NewClient(listAPI, baseURL, tlsConfig, timeout, userHeader)
	if err != nil {
		return nil, err
	}
	return &LicenseClient{small: small, lists: lists}, nil
}

// URL is the URL of one of the licence paths, without the xrfkey.
func (c *LicenseClient) URL(path string) string { return c.small.URL(path) }

// Counts are the numbers of one access type of the overview. A number the
// answer leaves out (or gives as null) is nil.
type Counts struct {
	Enabled bool `json:"enabled"`
	// Professional and analyzer access.
	Total       *float64 `json:"total"`
	Allocated   *float64 `json:"allocated"`
	Used        *float64 `json:"used"`
	Quarantined *float64 `json:"quarantined"`
	Excess      *float64 `json:"excess"`
	Available   *float64 `json:"available"`
	// Analyzer capacity (minutes).
	AllocatedMinutes   *float64 `json:"allocatedMinutes"`
	UsedMinutes        *float64 `json:"usedMinutes"`
	UnavailableMinutes *float64 `json:"unavailableMinutes"`
	// Login and user access (tokens).
	TokenCost         *float64 `json:"tokenCost"`
	AllocatedTokens   *float64 `json:"allocatedTokens"`
	UsedTokens        *float64 `json:"usedTokens"`
	UnavailableTokens *float64 `json:"unavailableTokens"`
	QuarantinedTokens *float64 `json:"quarantinedTokens"`
}

// Overview is GET /qrs/license/accesstypeoverview: each access type, and
// the site's tokens. An access type the answer leaves out is disabled.
type Overview struct {
	Professional     Counts   `json:"professionalAccess"`
	Analyzer         Counts   `json:"analyzerAccess"`
	AnalyzerCapacity Counts   `json:"analyzerTimeAccess"`
	Login            Counts   `json:"loginAccess"`
	User             Counts   `json:"userAccess"`
	TotalTokens      *float64 `json:"totalTokens"`
	AvailableTokens  *float64 `json:"availableTokens"`
	TokensEnabled    bool     `json:"tokensEnabled"`
}

// Overview asks for the access types' overview.
func (c *LicenseClient) Overview(ctx context.Context) (*Overview, error) {
	return qlikapi.GetJSON(ctx, c.small, c.small.URL(OverviewPath), "the access type overview, an object", ParseOverview)
}

// ParseOverview reads an access type overview.
func ParseOverview(body []byte) (*Overview, error) {
	var o Overview
	if err := decodeObject(body, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// decodeObject decodes one JSON object, and nothing after it.
func decodeObject(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return errors.New("the answer is not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more data after the object")
	}
	return nil
}

// Allocation is one user's allocated access (professional or analyzer).
type Allocation struct {
	// User is DIRECTORY\userid as the repository writes it.
	User string
	// Quarantined allocations belong to users removed from the access
	// rules, kept until the quarantine ends: not held.
	Quarantined bool
	// LastUsed is the repository's lastUsed, as it writes it.
	LastUsed string
}

// Allocations is one allocation list.
type Allocations struct {
	Entries []Allocation
	// Listed is how many entries the answer listed.
	Listed int
	// Unnamed counts entries without a user (a deleted user's allocation):
	// left out.
	Unnamed int
	// OverLimit counts entries past the caller's maximum: left out.
	OverLimit int
}

// allocation is what the client reads of an allocation entry.
type allocation struct {
	User *struct {
		UserID        string `json:"userId"`
		UserDirectory string `json:"userDirectory"`
	} `json:"user"`
	Quarantined bool   `json:"quarantined"`
	LastUsed    string `json:"lastUsed"`
}

// Allocations asks for an allocation list, ProfessionalPath or
// AnalyzerPath, keeping at most maxEntries entries.
func (c *LicenseClient) Allocations(ctx context.Context, path string, maxEntries int) (*Allocations, error) {
	return qlikapi.GetJSON(ctx, c.lists, c.lists.URL(path), "an array of allocations", func(body []byte) (*Allocations, error) {
		return ParseAllocations(body, maxEntries)
	})
}

// ParseAllocations reads an allocation list, keeping at most maxEntries
// entries.
func ParseAllocations(body []byte, maxEntries int) (*Allocations, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('[') {
		return nil, fmt.Errorf("the answer starts with %v, not an array", tok)
	}
	a := &Allocations{}
	for dec.More() {
		var e allocation
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("allocation #%d: %w", a.Listed+1, err)
		}
		a.Listed++
		switch {
		case e.User == nil || e.User.UserID == "":
			a.Unnamed++
		case len(a.Entries) >= maxEntries:
			a.OverLimit++
		default:
			a.Entries = append(a.Entries, Allocation{
				User:        e.User.UserDirectory + `\` + e.User.UserID,
				Quarantined: e.Quarantined,
				LastUsed:    e.LastUsed,
			})
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more data after the array")
	}
	return a, nil
}
