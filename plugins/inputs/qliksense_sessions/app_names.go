package qliksense_sessions

// appName is the name of the app with the id, or "" when the plugin does
// not know it.
func (q *QlikSenseSessions) appName(id string) string {
	return ""
}
