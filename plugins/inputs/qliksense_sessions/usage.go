package qliksense_sessions

import (
	"fmt"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
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

// periodsConfig checks periods and period_timezone and returns the
// periods' config; nil with periods = false.
func (q *QlikSenseSessions) periodsConfig() (*periods.Config, error) {
	if !q.Periods {
		return nil, nil //nolint:nilnil // no periods is no error
	}
	loc := time.Local
	if q.PeriodTimezone != "" {
		var err error
		if loc, err = time.LoadLocation(q.PeriodTimezone); err != nil {
			return nil, fmt.Errorf("period_timezone %q is not a time zone: give an IANA name such as \"Europe/Stockholm\" or \"UTC\" "+
				"(as in the tz database, case and all), or leave it out for the machine's own zone",
				q.PeriodTimezone)
		}
	}
	return &periods.Config{Location: loc, MaxUsers: q.MaxUsers}, nil
}
