package qliksense_sessions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/logfile"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

// initStateFile checks at Init that state_file can be kept: its folder
// exists and takes new files, and the file, if there is one, can be read.
// Init fails on these rather than Start, where the sessions would be lost
// without anyone noticing.
func (q *QlikSenseSessions) initStateFile() error {
	if q.StateFile == "" {
		return nil
	}
	dir := filepath.Dir(q.StateFile)
	shown := dir
	if abs, err := filepath.Abs(dir); err == nil {
		shown = abs // a relative path is relative to Telegraf's working folder
	}
	const fix = "create it, or point state_file elsewhere"
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("state_file %q: folder %q does not exist: %s (the user Telegraf runs as must be able to write in it)", q.StateFile, shown, fix)
	case err != nil:
		return fmt.Errorf("state_file %q: folder %q cannot be used (%v): %s", q.StateFile, shown, pathErr(err), fix)
	case !info.IsDir():
		return fmt.Errorf("state_file %q: %q is not a folder: point state_file to a file in a folder", q.StateFile, shown)
	}
	if info, err := os.Stat(q.StateFile); err == nil && info.IsDir() {
		return fmt.Errorf("state_file %q is a folder: give a file name in it, e.g. %q", q.StateFile, filepath.Join(q.StateFile, "qliksense_sessions.json"))
	}
	probe, err := os.CreateTemp(dir, "."+filepath.Base(q.StateFile)+".probe-*")
	if err != nil {
		return fmt.Errorf("state_file %q: cannot create files in folder %q (%v): give the user Telegraf runs as write access to it, or point state_file elsewhere", q.StateFile, shown, pathErr(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	if f, err := os.Open(q.StateFile); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state_file %q cannot be read (%v): give the user Telegraf runs as read and write access to it", q.StateFile, pathErr(err))
	}
	return nil
}

// pathErr is the cause of a file system error without the path, which the
// messages above name themselves.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadState restores the sessions saved by a previous run. A file that
// cannot be used is kept aside, so that the next save does not replace it,
// and reported; the plugin starts empty rather than not at all.
func (q *QlikSenseSessions) loadState(now time.Time) (resume []logfile.Position, fileServers []string) {
	if q.StateFile == "" {
		return nil, nil
	}
	file, err := statefile.Load(q.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		q.Log.Infof("No state file yet at %q; starting empty", q.StateFile)
		return nil, nil
	}
	if err != nil {
		aside, asideErr := statefile.SetAside(q.StateFile, now)
		if asideErr != nil {
			q.Log.Errorf("%v; starting with no sessions. Keeping the file aside failed too (%v): the next save replaces it, so copy it elsewhere now to keep it", err, asideErr)
			return nil, nil
		}
		q.Log.Errorf("%v; kept it as %q and starting with no sessions (the next save writes a new state file); delete the copy when you no longer need it", err, aside)
		return nil, nil
	}
	if file.Skipped.Total() > 0 {
		q.Log.Warnf("State file %q: %s; restoring the other %d", q.StateFile, file.Skipped, len(file.Sessions))
	}
	if file.KnownDropped > 0 {
		q.Log.Warnf("State file %q: dropped %d session ids with an empty or control character id, connections or start out of range; their sessions count without them", q.StateFile, file.KnownDropped)
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
	return file.LogFiles, file.FileServers
}

// saveState writes the state file if the state changed since the last save.
// Called by Stop, after done is closed, it is the last save, whose failure
// is always logged.
func (q *QlikSenseSessions) saveState() {
	q.save(q.stopping())
}

// save writes the state file if the state changed since the last save. A
// failure while running goes through the throttled log (the next tick
// retries); a failure of the last save is always logged.
func (q *QlikSenseSessions) save(last bool) {
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
	// Taken with the records: the rows read so far are those they reflect.
	positions, fileServers := q.logPositions(), q.fileServers()
	q.mu.Unlock()

	file := statefile.File{SavedAt: time.Now(), Sessions: records, LogFiles: positions, FileServers: fileServers}
	if err := statefile.SaveFile(q.StateFile, file); err != nil {
		q.stats.stateSaveErrors.Add(1)
		if last {
			sessions := 0
			for _, r := range records {
				sessions += r.Sessions
			}
			q.Log.Errorf("Saving state_file at shutdown failed: %v; the next start will not know the %d sessions open now", err, sessions)
			return
		}
		q.throttle.log("save", "Saving state_file failed, will retry: %v", err)
		return
	}
	q.mu.Lock()
	q.savedGeneration = generation
	q.mu.Unlock()
}

// stopping tells whether Stop has begun.
func (q *QlikSenseSessions) stopping() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
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
			if q.stopping() {
				return // select picked the tick over done: Stop saves last
			}
			q.expireSessions(now)
			q.save(false)
		}
	}
}
