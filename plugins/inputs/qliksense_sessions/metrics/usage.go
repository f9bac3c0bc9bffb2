package metrics

import (
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// UsageOptions say which usage fields the site's and the servers'
// summaries carry: max_sessions_per_user and each server's
// seconds_since_last_event always, the session limit's fields with
// session_limit, silent_servers with silence_alert.
type UsageOptions struct {
	SessionLimit bool // users_at_session_limit, users_at_limit
	SilenceAlert bool // silent_servers
	// SilentServers are the servers with active users and no event for
	// silence_alert.
	SilentServers int
}

// addUsage adds a site's or server's usage fields to fields, which hold
// its users list: users_at_limit is cut to what users left of maxBytes
// (whole names, in order; users_at_limit_truncated says it was cut), both
// counted as line protocol writes them (LineProtocolSize), so that both
// lists together stay within users_max_bytes.
func (s *Summaries) addUsage(fields map[string]interface{}, summary *state.Summary, site bool, maxBytes int) {
	fields["max_sessions_per_user"] = int64(summary.MaxSessionsPerUser)
	if s.Usage.SessionLimit {
		fields["users_at_session_limit"] = int64(summary.UsersAtLimit)
		users, _ := fields["users"].(string)
		list, truncated := UsersJSON(summary.AtLimit, max(maxBytes-LineProtocolSize([]byte(users)), 2))
		fields["users_at_limit"] = list
		if truncated {
			fields["users_at_limit_truncated"] = true
		}
	}
	switch {
	case !site:
		fields["seconds_since_last_event"] = int64(max(s.At.Sub(summary.LastEvent), 0) / time.Second)
	case s.Usage.SilenceAlert:
		fields["silent_servers"] = int64(s.Usage.SilentServers)
	}
}
