package qrs

import (
	"context"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi"
)

// ServerLicense is what GET /qrs/license says of the licence's expiry.
type ServerLicense struct {
	// Expired is the repository's isExpired.
	Expired bool
	// ExpiryDate is the end date as the licence writes it ("" when it names
	// none): a signed key's "Valid To:" line of keyDetails, or an LEF's
	// TIMELIMIT (else its PRODUCTLEVEL's) date.
	ExpiryDate string
	// Expiry is ExpiryDate read as a time (zero when it could not be read):
	// a date alone is the start of that day, UTC.
	Expiry time.Time
}

// serverLicense is what the client reads of the licence object.
type serverLicense struct {
	IsExpired  bool   `json:"isExpired"`
	KeyDetails string `json:"keyDetails"`
	LEF        string `json:"lef"`
}

// ServerLicense asks for the server licence.
func (c *LicenseClient) ServerLicense(ctx context.Context) (*ServerLicense, error) {
	return qlikapi.GetJSON(ctx, c.small, c.small.URL(LicensePath), "the licence, an object", ParseServerLicense)
}

// ParseServerLicense reads a licence object.
func ParseServerLicense(body []byte) (*ServerLicense, error) {
	var raw serverLicense
	if err := decodeObject(body, &raw); err != nil {
		return nil, err
	}
	l := &ServerLicense{Expired: raw.IsExpired, ExpiryDate: validTo(raw.KeyDetails)}
	if l.ExpiryDate == "" {
		l.ExpiryDate = lefEndDate(raw.LEF)
	}
	l.Expiry = parseDate(l.ExpiryDate)
	return l, nil
}

// validTo is the date of a signed key's "Valid To: <date>" line, as Butler
// reads it (the text after the colon, trimmed).
func validTo(keyDetails string) string {
	for line := range strings.Lines(keyDetails) {
		if _, after, ok := strings.Cut(line, "Valid To:"); ok {
			return strings.TrimSpace(after)
		}
	}
	return ""
}

// lefEndDate is an LEF's end date: the date of its TIMELIMIT line (e.g.
// "TIMELIMIT;2026-12-31"), else the last date of its PRODUCTLEVEL line
// (e.g. "PRODUCTLEVEL;50;;2026-12-31"); "" when it has neither.
func lefEndDate(lef string) string {
	var product string
	for line := range strings.Lines(lef) {
		fields := strings.Split(strings.TrimSpace(line), ";")
		name := strings.ToUpper(strings.TrimSpace(fields[0]))
		if name != "TIMELIMIT" && name != "PRODUCTLEVEL" {
			continue
		}
		date := ""
		for _, f := range fields[1:] {
			if f = strings.TrimSpace(f); !parseDate(f).IsZero() {
				date = f
			}
		}
		if date == "" {
			continue
		}
		if name == "TIMELIMIT" {
			return date
		}
		if product == "" {
			product = date
		}
	}
	return product
}

// dateLayouts are the forms an expiry date is read in.
var dateLayouts = []string{time.DateOnly, time.RFC3339, "2006-01-02T15:04:05", time.DateTime, "2006/01/02", "01/02/2006"}

// parseDate reads a date in one of dateLayouts (UTC when it names no
// zone); the zero time when none fits.
func parseDate(s string) time.Time {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// DaysUntil is how many days are left until the licence expires, counted
// up (as Butler does: a licence that expires in 2.5 days has 3), and
// negative once the expiry date is past; ok is false when the licence
// names no readable date.
func (l *ServerLicense) DaysUntil(now time.Time) (days int, ok bool) {
	if l.Expiry.IsZero() {
		return 0, false
	}
	const day = 24 * time.Hour
	left := l.Expiry.Sub(now)
	days = int(left / day)
	if left%day > 0 {
		days++
	}
	return days, true
}
