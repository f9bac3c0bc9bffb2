package periods

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SavedVersion is the version of the state file's periods section this
// build writes and reads.
const SavedVersion = 1

// Saved is the periods' part of the state file: the open periods and the
// users remembered, taken with the sessions under the same lock.
type Saved struct {
	Version int `json:"version"`
	// Zone is the period_timezone the periods were counted in.
	Zone string `json:"zone"`
	// Clock is the Tracker's clock when saved.
	Clock time.Time     `json:"clock"`
	Open  []SavedPeriod `json:"open"`
	Users []SavedUser   `json:"users"`
	// ServerNames names the servers of the users' marks, by key.
	ServerNames map[string]string `json:"server_names,omitempty"`
}

// SavedPeriod is one open period of one scope; its distinct users are the
// users marked for it.
type SavedPeriod struct {
	Period          string    `json:"period"` // hour or day
	Server          string    `json:"server,omitempty"`
	ServerKey       string    `json:"server_key,omitempty"`
	App             string    `json:"app_id,omitempty"`
	AppKey          string    `json:"app_key,omitempty"`
	Start           time.Time `json:"start"`
	PeakUsers       int       `json:"peak_users"`
	PeakSessions    int       `json:"peak_sessions"`
	PeakAt          time.Time `json:"peak_at"`
	SessionsStarted int       `json:"sessions_started"`
}

// SavedUser is what is remembered of one user (the state's case-folded
// key): the last day they were active on the site and on each server
// (those active when saved count on that day and hour), and the apps they
// used on the open day.
type SavedUser struct {
	User    string      `json:"user"`
	Day     string      `json:"day"` // YYYY-MM-DD, in the zone
	InHour  bool        `json:"in_hour,omitempty"`
	Servers []SavedMark `json:"servers,omitempty"`
	Apps    []string    `json:"apps,omitempty"` // app keys
}

// SavedMark is a user's last day on one server (by key).
type SavedMark struct {
	Server string `json:"server"`
	Day    string `json:"day"`
	InHour bool   `json:"in_hour,omitempty"`
}

const dateLayout = "2006-01-02"

// Save returns the periods' state; nil before the clock was set. A user
// active now is saved as active in the open hour and day, where they count.
func (t *Tracker) Save() *Saved {
	if !t.set {
		return nil
	}
	s := &Saved{Version: SavedVersion, Zone: t.cfg.Location.String(), Clock: t.now.UTC(), Users: make([]SavedUser, 0, len(t.users)),
		ServerNames: make(map[string]string, len(t.servers))}
	s.Open = appendSavedPeriod(s.Open, &t.site, Hour, t.hourStart, &t.site.hour)
	s.Open = appendSavedPeriod(s.Open, &t.site, Day, t.dayStart, &t.site.day)
	for _, srv := range t.servers {
		s.ServerNames[srv.key] = srv.name
		s.Open = appendSavedPeriod(s.Open, srv, Hour, t.hourStart, &srv.hour)
		s.Open = appendSavedPeriod(s.Open, srv, Day, t.dayStart, &srv.day)
	}
	for _, a := range t.apps {
		s.Open = appendSavedPeriod(s.Open, a, Day, t.dayStart, &a.day)
	}
	hour := t.hourStart.Unix()
	for key, u := range t.users {
		su := SavedUser{User: key, Day: t.date(u.site), InHour: u.site.active || u.site.hour == hour}
		for _, m := range u.servers {
			su.Servers = append(su.Servers, SavedMark{Server: m.scope.key, Day: t.date(m.mark), InHour: m.active || m.hour == hour})
		}
		for _, m := range u.apps {
			if m.active || m.day == t.day {
				su.Apps = append(su.Apps, m.scope.key)
			}
		}
		s.Users = append(s.Users, su)
	}
	slices.SortFunc(s.Users, func(a, b SavedUser) int { return strings.Compare(a.User, b.User) })
	return s
}

func appendSavedPeriod(open []SavedPeriod, sc *scope, kind Kind, start time.Time, p *tally) []SavedPeriod {
	if p.distinct == 0 && p.peakUsers == 0 {
		return open
	}
	sp := SavedPeriod{Period: kind.String(), Start: start.UTC(), PeakUsers: p.peakUsers, PeakSessions: p.peakSessions,
		SessionsStarted: p.started}
	if !p.peakAt.IsZero() {
		sp.PeakAt = p.peakAt.UTC()
	}
	if sc.app {
		sp.App, sp.AppKey = sc.name, sc.key
	} else if sc.key != "" {
		sp.Server, sp.ServerKey = sc.name, sc.key
	}
	return append(open, sp)
}

// date is the day of a mark, as saved: today for a user active now.
func (t *Tracker) date(m mark) string {
	day := m.day
	if m.active {
		day = t.day
	}
	return time.Unix(int64(day-1)*86400, 0).UTC().Format(dateLayout)
}

// MaxAhead is how far a saved period may start after the clock at Restore
// (the clock was wrong when it was saved, or is now): beyond it, it is
// skipped.
const MaxAhead = time.Hour

// Report says what Restore skipped, and why.
type Report struct {
	// Whole is why the whole section was skipped; "" if it was used.
	Whole string
	// Future and TooOld count the periods and user marks that lay more
	// than MaxAhead after the clock, or ended more than 30 days before it;
	// Invalid those that are no period or day; OverLimit the users beyond
	// Config.MaxUsers.
	Future, TooOld, Invalid, OverLimit int
}

// Skipped tells whether anything was skipped.
func (r Report) Skipped() bool {
	return r.Whole != "" || r.Future+r.TooOld+r.Invalid+r.OverLimit > 0
}

// String says what was skipped, for a log line.
func (r Report) String() string {
	if r.Whole != "" {
		return r.Whole
	}
	var parts []string
	for _, part := range []struct {
		n    int
		what string
	}{
		{r.Future, "starting more than 1h after the clock"},
		{r.TooOld, "older than 30 days"},
		{r.Invalid, "not a period or day of period_timezone"},
		{r.OverLimit, "users beyond max_users"},
	} {
		if part.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", part.n, part.what))
		}
	}
	return "skipped " + strings.Join(parts, ", ")
}

// Restore takes saved periods into a Tracker that has not been used, at the
// time now: it opens the saved hour and day at the saved clock (no later
// than now). Periods and marks in the future or beyond the 30 days are
// skipped and reported. Then restore the sessions (with Restoring): they
// make their users active, and those the saved marks count already do not
// count twice; then Advance to now, which ends the periods that ended
// meanwhile, with their final points, and starts the new ones with the
// users restored.
func (t *Tracker) Restore(s *Saved, now time.Time) Report {
	var r Report
	switch {
	case s == nil:
		t.Advance(now)
		return r
	case s.Version != SavedVersion:
		r.Whole = fmt.Sprintf("the periods section has version %d, this build reads %d: skipped it, the periods start anew", s.Version, SavedVersion)
		return r
	case s.Zone != t.cfg.Location.String():
		r.Whole = fmt.Sprintf("the periods were counted in the time zone %q, period_timezone is now %q: skipped them, the periods start anew",
			s.Zone, t.cfg.Location)
		return r
	}
	clock := s.Clock
	if clock.After(now) {
		clock = now // the clock never goes back: the saved one was ahead
	}
	var hour, day *time.Time
	valid := make([]SavedPeriod, 0, len(s.Open))
	for _, p := range s.Open {
		start, ok := t.checkStart(p, now, &r)
		if !ok {
			continue
		}
		latest := &hour
		if p.Period == "day" {
			latest = &day
		}
		if *latest == nil || start.After(**latest) {
			*latest = &start
		}
		valid = append(valid, p)
	}
	if day != nil && clock.Before(*day) {
		clock = *day
	}
	if hour != nil && clock.Before(*hour) {
		clock = *hour
	}
	t.Advance(clock)
	for _, p := range valid {
		t.restorePeriod(p, &r)
	}
	t.restoreUsers(s, now, &r)
	return r
}

// checkStart checks a saved period's start: a period of the zone, not in
// the future, not beyond the 30 days.
func (t *Tracker) checkStart(p SavedPeriod, now time.Time, r *Report) (time.Time, bool) {
	start := p.Start.In(t.cfg.Location)
	var aligned bool
	switch p.Period {
	case "hour":
		aligned = hourStart(start, t.cfg.Location).Equal(start)
	case "day":
		y, m, d := start.Date()
		aligned = time.Date(y, m, d, 0, 0, 0, 0, t.cfg.Location).Equal(start)
	}
	switch {
	case !aligned || p.PeakUsers < 0 || p.PeakSessions < 0 || p.SessionsStarted < 0 || (p.Server != "") != (p.ServerKey != "") ||
		(p.App != "") != (p.AppKey != "") || p.App != "" && (p.Period != "day" || p.Server != ""):
		r.Invalid++
	case start.After(now.Add(MaxAhead)):
		r.Future++
	case now.Sub(start) > window*24*time.Hour:
		r.TooOld++
	default:
		return start, true
	}
	return time.Time{}, false
}

// restorePeriod takes a saved period into the open one it belongs to; one
// of an earlier hour or day than the open one is invalid.
func (t *Tracker) restorePeriod(p SavedPeriod, r *Report) {
	start, sc := p.Start, &t.site
	switch {
	case p.App != "":
		sc = t.apps[p.AppKey]
		if sc == nil {
			sc = &scope{key: p.AppKey, name: p.App, app: true}
			t.apps[p.AppKey] = sc
		}
	case p.Server != "":
		sc = t.server(p.ServerKey, p.Server)
	}
	open := &sc.hour
	if p.Period == "day" {
		if !start.Equal(t.dayStart) {
			r.Invalid++
			return
		}
		open = &sc.day
	} else if !start.Equal(t.hourStart) {
		r.Invalid++
		return
	}
	open.peakUsers, open.peakSessions, open.started = p.PeakUsers, p.PeakSessions, p.SessionsStarted
	open.peakAt = p.PeakAt
	if p.PeakAt.Before(start) {
		open.peakAt = start
	}
}

// restoreUsers takes the saved users' marks: their last days count in the
// rolling windows, and those of the open hour and day in its distinct users.
func (t *Tracker) restoreUsers(s *Saved, now time.Time, r *Report) {
	hour := t.hourStart.Unix()
	for _, su := range s.Users {
		day, ok := t.checkDay(su.Day, now, r)
		if !ok || su.User == "" {
			if ok {
				r.Invalid++
			}
			continue
		}
		if _, dup := t.users[su.User]; dup {
			r.Invalid++
			continue
		}
		if t.cfg.MaxUsers > 0 && len(t.users) >= t.cfg.MaxUsers {
			r.OverLimit++
			continue
		}
		u := &user{}
		t.users[su.User] = u
		t.restoreMark(&t.site, &u.site, day, su.InHour, hour)
		for _, sm := range su.Servers {
			day, ok := t.checkDay(sm.Day, now, r)
			if !ok {
				continue
			}
			name := s.ServerNames[sm.Server]
			if name == "" {
				r.Invalid++
				continue
			}
			srv := t.server(sm.Server, name)
			t.restoreMark(srv, &u.markOf(srv, &u.servers).mark, day, sm.InHour, hour)
		}
		for _, key := range su.Apps {
			if a := t.apps[key]; a != nil {
				m := u.markOf(a, &u.apps)
				m.day = t.day
				a.day.distinct++
			}
		}
	}
}

func (t *Tracker) restoreMark(sc *scope, m *mark, day int32, inHour bool, hour int64) {
	m.day = day
	sc.inactive[day%ring]++
	if day == t.day {
		sc.day.distinct++
		if inHour {
			m.hour = hour
			sc.hour.distinct++
		}
	}
}

// checkDay parses a saved day: not after today, not beyond the 30 days.
func (t *Tracker) checkDay(s string, now time.Time, r *Report) (int32, bool) {
	d, err := time.Parse(dateLayout, s)
	if err != nil {
		r.Invalid++
		return 0, false
	}
	day, today := dayNumber(d), dayNumber(now.In(t.cfg.Location))
	switch {
	case day > today || day > t.day:
		r.Future++
	case today-day >= window:
		r.TooOld++
	default:
		return day, true
	}
	return 0, false
}
