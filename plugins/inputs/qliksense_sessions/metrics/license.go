package metrics

import "github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"

// The measurements of the licence poll and of what the summaries make of
// it (issue 20). qlik_sense_license and qlik_sense_server_license are
// Butler's names, tags and fields.
const (
	License       = "qlik_sense_license"        // tag license_type
	ServerLicense = "qlik_sense_server_license" // no tags of its own
	UsersLicense  = "qliksense_users_license"   // tags access_type, trigger
	UsersStream   = "qliksense_users_stream"    // tags stream_id, stream, trigger
)

// SummaryUserFields are the fields of a summary of activeUsers users
// listed in users (in their order): active_users, users cut to maxBytes
// and, if it was cut, users_truncated, as in every summary.
func SummaryUserFields(activeUsers int, users []string, maxBytes int) map[string]interface{} {
	return userFields(state.Summary{ActiveUsers: activeUsers, Users: users}, maxBytes)
}
