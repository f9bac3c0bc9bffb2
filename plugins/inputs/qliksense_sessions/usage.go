package qliksense_sessions

import (
	"fmt"
	"time"
)

// Qlik Sense refuses a user's next session beyond its parallel-session
// limit (5 by default, MaxParallelSessionsExceeded); session_limit says
// which users the summaries list as at it. silence_alert is how long a
// server with active users may send nothing before it counts as silent.
const (
	defaultSessionLimit = 5
	defaultSilenceAlert = 15 * time.Minute
)

// checkUsage checks session_limit and silence_alert.
func (q *QlikSenseSessions) checkUsage() error {
	switch {
	case q.SessionLimit < 0:
		return fmt.Errorf("session_limit %d is negative: give Qlik Sense's parallel sessions per user (5 by default), "+
			"or 0 for no users_at_session_limit", q.SessionLimit)
	case q.SilenceAlert < 0:
		return fmt.Errorf("silence_alert %s is negative: use a duration such as \"15m\", or \"0s\" for no silent_servers", time.Duration(q.SilenceAlert))
	}
	return nil
}
