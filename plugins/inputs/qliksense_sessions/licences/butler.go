package licences

import (
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// licensePoint is one qlik_sense_license point: its license_type tag and
// its fields.
type licensePoint struct {
	licenseType string
	fields      map[string]interface{}
}

// overviewPoints are the qlik_sense_license points Butler
// (src/lib/influxdb/qlik_sense_license.js) writes for an overview: one per
// enabled access type, in Butler's order, with Butler's field names. Butler
// hands the numbers to node-influx without a schema, which writes them as
// floats: so do we, so that the fields keep their type in a database Butler
// wrote to. A number the answer leaves out is left out (Butler would write
// "undefined", which InfluxDB refuses, and the point with it). burn are the
// capacity fields of the analyzer_capacity point (ours, not Butler's).
func overviewPoints(o *qrs.Overview, burn map[string]interface{}) []licensePoint {
	var points []licensePoint
	add := func(licenseType string, enabled bool, pairs ...any) {
		if !enabled {
			return
		}
		fields := make(map[string]interface{}, len(pairs)/2+len(burn))
		for i := 0; i < len(pairs); i += 2 {
			if v := pairs[i+1].(*float64); v != nil {
				fields[pairs[i].(string)] = *v
			}
		}
		if licenseType == "analyzer_capacity" {
			for k, v := range burn {
				fields[k] = v
			}
		}
		if len(fields) > 0 {
			points = append(points, licensePoint{licenseType, fields})
		}
	}
	access := func(licenseType string, c *qrs.Counts) {
		add(licenseType, c.Enabled, "allocated", c.Allocated, "available", c.Available, "excess", c.Excess,
			"quarantined", c.Quarantined, "total", c.Total, "used", c.Used)
	}
	access("analyzer", &o.Analyzer)
	c := &o.AnalyzerCapacity
	add("analyzer_capacity", c.Enabled, "allocated_minutes", c.AllocatedMinutes, "unavailable_minutes", c.UnavailableMinutes,
		"used_minutes", c.UsedMinutes)
	access("professional", &o.Professional)
	c = &o.Login
	add("token_login", c.Enabled, "allocated_tokens", c.AllocatedTokens, "token_cost", c.TokenCost,
		"unavailable_tokens", c.UnavailableTokens, "used_tokens", c.UsedTokens)
	// Butler reads userAccess.userTokens here, which the overview does not
	// have: its used_tokens is undefined, and InfluxDB refuses the point.
	// We take usedTokens, as for token_login.
	c = &o.User
	add("token_user", c.Enabled, "allocated_tokens", c.AllocatedTokens, "quarantined_tokens", c.QuarantinedTokens,
		"token_cost", c.TokenCost, "used_tokens", c.UsedTokens)
	add("tokens_available", o.TokensEnabled, "available_tokens", o.AvailableTokens, "total_tokens", o.TotalTokens)
	return points
}

// serverLicenseFields are qlik_sense_server_license's fields, as Butler
// names them: license_expired (bool), expiry_date (string, as the licence
// writes it) and days_until_expiry (a float, as Butler's node-influx writes
// it; negative once past, where Butler writes the distance either way),
// the last two when the licence names a date.
func serverLicenseFields(l *qrs.ServerLicense, now time.Time) map[string]interface{} {
	fields := map[string]interface{}{"license_expired": l.Expired}
	if l.ExpiryDate != "" {
		fields["expiry_date"] = l.ExpiryDate
	}
	if days, ok := l.DaysUntil(now); ok {
		fields["days_until_expiry"] = float64(days)
	}
	return fields
}
