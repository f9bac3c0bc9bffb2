package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

// Restore loads the state file a previous run saved and returns the log
// file positions in it. A file that cannot be used is kept aside, so that
// the next save does not replace it, and reported; the pipeline starts
// empty rather than not at all. Call it before Start.
func (p *Pipeline) Restore(now time.Time) (resume []statefile.Position) {
	path := p.cfg.StateFile
	if path == "" {
		return nil
	}
	log := p.cfg.Log
	removed, err := statefile.RemoveTemps(path)
	if len(removed) > 0 {
		log.Infof("Removed %d temporary files next to %q that saves cut short left behind: %s", len(removed), path, strings.Join(removed, ", "))
	}
	if err != nil {
		log.Warnf("%v", err)
	}
	file, err := statefile.LoadFor(path, p.cfg.State)
	if errors.Is(err, fs.ErrNotExist) {
		log.Infof("No state file yet at %q; starting empty", path)
		return nil
	}
	if err != nil {
		aside, asideErr := statefile.SetAside(path, now)
		if asideErr != nil {
			log.Errorf("%v; starting with no sessions. Keeping the file aside failed too (%v): "+
				"the next save replaces it, so copy it elsewhere now to keep it", err, asideErr)
			return nil
		}
		log.Errorf("%v; kept it as %q and starting with no sessions (the next save writes a new state file); "+
			"delete the copy when you no longer need it", err, aside)
		return nil
	}
	if file.Skipped.Total() > 0 {
		limit := ""
		if file.Skipped[statefile.ReasonMaxUserSessions] > 0 {
			limit = fmt.Sprintf(" (max_user_sessions = %d)", p.cfg.State.MaxUserSessions)
		}
		log.Warnf("State file %q: %s%s; restoring the other %d", path, file.Skipped, limit, len(file.Sessions))
	}
	if file.KnownDropped > 0 {
		log.Warnf("State file %q: dropped %d session ids with an empty or control character id, an id over %d bytes, connections or start out of range; "+
			"their sessions count without them", path, file.KnownDropped, state.MaxSessionIDLength)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.restorePeriods(file, now)
	before := p.state.Counters()
	skipped := p.state.Restore(file.Sessions)
	p.periodsRestored(now)
	after := p.state.Counters()
	byUsers, byServers := int(after.RefusedMaxUsers-before.RefusedMaxUsers), int(after.RefusedMaxServers-before.RefusedMaxServers)
	if other := skipped - byUsers - byServers; other > 0 {
		log.Warnf("State file %q: skipped %d records without server, user or sessions", path, other)
	}
	if byUsers+byServers > 0 {
		p.keepRefused(path, byUsers, byServers, now)
	}
	expired := 0
	if p.cfg.SessionMaxAge > 0 {
		expired = p.state.Expire(now.Add(-p.cfg.SessionMaxAge))
	}
	p.savedGeneration = p.state.Generation()
	for _, name := range file.FileServers {
		p.fileServers[strings.ToLower(name)] = name
	}
	log.Infof("Restored %d sessions of %d users from %q (saved %s), dropped %d older than session_max_age",
		p.state.ActiveSessions(), p.state.ActiveUsers(), path, file.SavedAt.Format(time.RFC3339), expired)
	return file.LogFiles
}

// keepRefused reports the records of the state file that max_users and
// max_servers refused, and keeps the file aside: the next save would drop
// them for good.
func (p *Pipeline) keepRefused(path string, byUsers, byServers int, now time.Time) {
	var parts []string
	for _, limit := range []struct {
		name           string
		value, refused int
	}{{"max_users", p.cfg.State.MaxUsers, byUsers}, {"max_servers", p.cfg.State.MaxServers, byServers}} {
		switch {
		case limit.refused == 1:
			parts = append(parts, fmt.Sprintf("1 record refused by %s (%d)", limit.name, limit.value))
		case limit.refused > 1:
			parts = append(parts, fmt.Sprintf("%d records refused by %s (%d)", limit.refused, limit.name, limit.value))
		}
	}
	refused := strings.Join(parts, " and ")
	aside, err := statefile.KeepAside(path, now, "over-limits")
	if err != nil {
		p.cfg.Log.Warnf("State file %q: %s; raise the limit to restore them. "+
			"Keeping the file aside failed too (%v): the next save drops them, so copy it elsewhere now to keep them", path, refused, err)
		return
	}
	p.cfg.Log.Warnf("State file %q: %s; kept the file as %q, since the next save drops them: raise the limit and copy it back over the state file "+
		"(with the plugin stopped) to restore them, or delete it", path, refused, aside)
}

// SetCheckpoint makes saves take the log files' positions together with
// the state's records: checkpoint runs its function while no row is being
// handled and returns the positions after the rows handled so far.
func (p *Pipeline) SetCheckpoint(checkpoint func(records func()) []statefile.Position) {
	p.checkpoint = checkpoint
}

// save writes the state file if the state changed since the last save. A
// failure while running goes through the throttled log (the next tick
// retries); a failure of the last save is always logged.
func (p *Pipeline) save(last bool) {
	path := p.cfg.StateFile
	if path == "" {
		return
	}
	var (
		changed     bool
		generation  uint64
		file        statefile.File
		fileServers []string
	)
	var periodsGeneration uint64
	take := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		generation = p.state.Generation()
		if p.periods != nil {
			periodsGeneration = p.periods.Generation()
		}
		if changed = generation != p.savedGeneration || periodsGeneration != p.savedPeriods; changed {
			file.Sessions = p.state.Records()
			fileServers = p.fileServerNames()
			if p.periods != nil {
				file.Periods = p.periods.Save()
			}
		}
	}
	if p.checkpoint != nil {
		// The rows read so far are those the records reflect.
		file.LogFiles = p.checkpoint(take)
	} else {
		take()
	}
	if !changed {
		return
	}
	file.SavedAt, file.FileServers = time.Now(), fileServers
	if err := statefile.SaveFile(path, file); err != nil {
		p.stateSaveErrors.Add(1)
		if last {
			sessions := 0
			for _, r := range file.Sessions {
				sessions += r.Sessions
			}
			p.cfg.Log.Errorf("Saving state_file at shutdown failed: %v; the next start will not know the %d sessions open now", err, sessions)
			return
		}
		p.cfg.Throttle.Warnf("save", "Saving state_file failed, will retry: %v", err)
		return
	}
	p.mu.Lock()
	p.savedGeneration, p.savedPeriods = generation, periodsGeneration
	p.mu.Unlock()
}

// Expire drops sessions with no event since cutoff and tells how many.
func (p *Pipeline) Expire(cutoff time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Expire(cutoff)
}

// expireSessions drops sessions with no event for session_max_age.
func (p *Pipeline) expireSessions(now time.Time) {
	if p.cfg.SessionMaxAge <= 0 {
		return
	}
	if expired := p.Expire(now.Add(-p.cfg.SessionMaxAge)); expired > 0 {
		p.cfg.Log.Debugf("Expired %d sessions with no event for %s", expired, p.cfg.SessionMaxAge)
		p.SummaryDue()
	}
}

// maintain saves the state and expires sessions until Stop.
func (p *Pipeline) maintain() {
	period := p.cfg.StateSaveInterval
	if p.cfg.SessionMaxAge > 0 {
		// Check expiry often enough to be within a tenth of the age.
		period = min(max(p.cfg.SessionMaxAge/10, time.Second), period)
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-ticker.C:
			if p.stopping() {
				return // select picked the tick over done: Stop saves last
			}
			p.expireSessions(now)
			p.save(false)
		}
	}
}
