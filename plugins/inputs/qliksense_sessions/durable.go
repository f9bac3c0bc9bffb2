package qliksense_sessions

import (
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

// loadState restores the sessions saved by a previous run. A file that
// cannot be read is reported and ignored: the plugin starts empty rather
// than not at all.
func (q *QlikSenseSessions) loadState(now time.Time) {
	if q.StateFile == "" {
		return
	}
	file, err := statefile.Load(q.StateFile)
	if err != nil {
		q.Log.Errorf("%v; starting with no sessions (the file is replaced at the next save)", err)
		return
	}
	skipped := q.state.Restore(file.Sessions)
	if skipped > 0 {
		q.Log.Warnf("State file %q: skipped %d records without server, user or sessions", q.StateFile, skipped)
	}
	expired := 0
	if q.SessionMaxAge > 0 {
		expired = q.state.Expire(now.Add(-time.Duration(q.SessionMaxAge)))
	}
	q.savedGeneration = q.state.Generation()
	q.Log.Infof("Restored %d sessions of %d users from %q (saved %s), dropped %d older than session_max_age",
		q.state.ActiveSessions(), q.state.ActiveUsers(), q.StateFile, file.SavedAt.Format(time.RFC3339), expired)
}

// saveState writes the state file if the state changed since the last save.
func (q *QlikSenseSessions) saveState() {
	if q.StateFile == "" {
		return
	}
	q.mu.Lock()
	generation := q.state.Generation()
	if generation == q.savedGeneration {
		q.mu.Unlock()
		return
	}
	records := q.state.Records()
	q.mu.Unlock()

	if err := statefile.Save(q.StateFile, records, time.Now()); err != nil {
		q.stats.stateSaveErrors.Add(1)
		q.throttle.log("save", "Saving state_file failed, will retry: %v", err)
		return
	}
	q.mu.Lock()
	q.savedGeneration = generation
	q.mu.Unlock()
}

// expireSessions drops sessions with no event for session_max_age.
func (q *QlikSenseSessions) expireSessions(now time.Time) {
	if q.SessionMaxAge <= 0 {
		return
	}
	q.mu.Lock()
	expired := q.state.Expire(now.Add(-time.Duration(q.SessionMaxAge)))
	q.mu.Unlock()
	if expired > 0 {
		q.Log.Debugf("Expired %d sessions with no event for %s", expired, time.Duration(q.SessionMaxAge))
		q.summaryDue()
	}
}

// maintain saves the state and expires sessions until Stop.
func (q *QlikSenseSessions) maintain() {
	period := time.Duration(q.StateSaveInterval)
	if q.SessionMaxAge > 0 {
		// Check expiry often enough to be within a tenth of the age.
		period = min(max(time.Duration(q.SessionMaxAge)/10, time.Second), period)
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-q.done:
			return
		case now := <-ticker.C:
			q.expireSessions(now)
			q.saveState()
		}
	}
}
