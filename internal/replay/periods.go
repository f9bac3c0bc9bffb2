package replay

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The replay's own account of the usage periods (issue 19): for every
// calendar hour and day of a time zone, the site's, each server's and (per
// day) each app's peaks of users and sessions, when the peak of users was
// first reached, the distinct users and the sessions started. It follows
// the Model event by event and counts what the Model holds after each one,
// so that it shares nothing with the plugin but the rules:
//
//   - A user is active in the site while the Model gives them a session
//     somewhere, in a server while they have one there (sessions counted
//     per server and DIR\userid, any case), in an app while they have a
//     connection to it.
//   - A period opens with the users active at its start: they count in its
//     distinct users and its peaks, whose moment is then the period's start.
//     Periods begin with the first event: nothing is known before it.
//   - The peaks are the most users, and the most sessions, at any moment
//     (after any event) of the period; PeakAt is the first moment the peak
//     of users was reached.
//   - SessionsStarted are the sessions a server gained, event by event,
//     within the period (the site's: all servers').
//   - A period in which nobody was active has no point. An app's points
//     have no sessions.
//   - Hours are those of the zone's clock (a DST day has 23 or 25 of them;
//     the hour repeated in autumn is two, one per UTC offset); days run from
//     midnight to midnight.
//
// It does not model the plugin's gap rule (periods in a silence of more
// than 31 days get no points): the rows given should have no such gap.

// The kinds of period, as the points' period tag writes them.
const (
	PeriodHour = "hour"
	PeriodDay  = "day"
)

// PeriodExpected is one period of one scope: the site (Server and App
// empty), a server, or an app (days only).
type PeriodExpected struct {
	Period          string    `json:"period"`
	Start           time.Time `json:"start"`
	Server          string    `json:"server,omitempty"`
	App             string    `json:"app_id,omitempty"`
	PeakUsers       int       `json:"peak_users"`
	PeakSessions    int       `json:"peak_sessions"`
	PeakAt          time.Time `json:"peak_at"`
	DistinctUsers   int       `json:"distinct_users"`
	SessionsStarted int       `json:"sessions_started"`
	// Complete: the period ended before until.
	Complete bool `json:"complete"`
}

// Key names the period and its scope, server and app folded, to match
// points with.
func (p PeriodExpected) Key() string {
	return p.Period + " " + p.Start.UTC().Format(time.RFC3339) + " server=" + strings.ToLower(p.Server) + " app=" + strings.ToLower(p.App)
}

// ExpectPeriods is what the plugin's qliksense_users_period must say of
// events (accepted log rows, applied in the order of their time stamps;
// equal ones keep their order) for the hours and days of loc, up to until:
// the periods that ended by until are Complete, those under way at until
// are not. An until before the last event counts as that event's time.
func ExpectPeriods(events []LogEvent, loc *time.Location, until time.Time) []PeriodExpected {
	ordered := slices.Clone(events)
	slices.SortStableFunc(ordered, func(a, b LogEvent) int { return a.Time.Compare(b.Time) })
	c := &periodCounter{loc: loc, m: NewModel(ReorderWindow), names: make(map[periodScope]string)}
	for i := range ordered {
		ev := &ordered[i]
		c.advance(ev.Time)
		c.m.Apply(&ev.Event, ev.Time)
		c.name(ev)
		c.observe(ev, ev.Time)
	}
	if !c.started {
		return nil
	}
	c.advance(until)
	c.emit(c.hours, PeriodHour, c.hourStart, false)
	c.emit(c.days, PeriodDay, c.dayStart, false)
	// Hours first, then days; by start; the site, the servers, the apps.
	slices.SortFunc(c.out, func(a, b PeriodExpected) int {
		return cmp.Or(-strings.Compare(a.Period, b.Period), a.Start.Compare(b.Start),
			strings.Compare(strings.ToLower(a.App), strings.ToLower(b.App)), strings.Compare(strings.ToLower(a.Server), strings.ToLower(b.Server)))
	})
	return c.out
}

// ExpectPeriodsFromLogDir is ExpectPeriods of the accepted rows of the log
// files in dir, as ExpectFromLogDir reads them (users in exclude left out).
func ExpectPeriodsFromLogDir(dir string, loc *time.Location, until time.Time, exclude ...string) ([]PeriodExpected, error) {
	events, err := logDirEvents(dir, exclude)
	if err != nil {
		return nil, err
	}
	return ExpectPeriods(events, loc, until), nil
}

// periodScope is the site (both empty), a server or an app, folded.
type periodScope struct{ server, app string }

// periodTally is one open period of one scope.
type periodTally struct {
	peakUsers, peakSessions int
	peakAt                  time.Time
	users                   map[string]bool // folded DIR\userid
	started                 int
}

// scopeNow is who is active in a scope now.
type scopeNow struct {
	users    map[string]bool // folded DIR\userid
	sessions int
}

type periodCounter struct {
	loc     *time.Location
	m       *Model
	names   map[periodScope]string // servers and apps as first spelt
	started bool
	// The open hour and day, and their tallies.
	hourStart, hourEnd, dayStart, dayEnd time.Time
	hours, days                          map[periodScope]*periodTally
	// active is who is active in each scope with somebody, kept event by
	// event; pairs are the sessions of each user on each server.
	active map[periodScope]*scopeNow
	pairs  map[pairKey]int
	out    []PeriodExpected
}

func (c *periodCounter) name(ev *LogEvent) {
	server := periodScope{server: strings.ToLower(ev.Server)}
	if _, ok := c.names[server]; !ok {
		c.names[server] = ev.Server
	}
	if app := appID(ev.Context); app != "" {
		key := periodScope{app: strings.ToLower(app)}
		if _, ok := c.names[key]; !ok {
			c.names[key] = app
		}
	}
}

// advance ends the periods that end by t and opens t's.
func (c *periodCounter) advance(t time.Time) {
	if !c.started {
		c.started = true
		c.active, c.pairs = make(map[periodScope]*scopeNow), make(map[pairKey]int)
		c.openDay(t)
		c.openHour(c.hourOf(t))
		return
	}
	for !t.Before(c.hourEnd) {
		next := c.hourEnd
		c.emit(c.hours, PeriodHour, c.hourStart, true)
		if !next.Before(c.dayEnd) {
			c.emit(c.days, PeriodDay, c.dayStart, true)
			c.openDay(next)
		}
		c.openHour(next)
	}
}

// hourOf is the start of t's hour on loc's clock.
func (c *periodCounter) hourOf(t time.Time) time.Time {
	local := t.In(c.loc)
	return local.Add(-time.Duration(local.Minute())*time.Minute - time.Duration(local.Second())*time.Second - time.Duration(local.Nanosecond()))
}

func (c *periodCounter) openHour(start time.Time) {
	c.hourStart, c.hourEnd = start.In(c.loc), start.Add(time.Hour).In(c.loc)
	c.hours = c.opening(start, false)
}

func (c *periodCounter) openDay(at time.Time) {
	y, m, d := at.In(c.loc).Date()
	c.dayStart, c.dayEnd = time.Date(y, m, d, 0, 0, 0, 0, c.loc), time.Date(y, m, d+1, 0, 0, 0, 0, c.loc)
	c.days = c.opening(c.dayStart, true)
}

// opening makes the tallies of a period that starts at start: every scope
// with users active then (apps only if withApps).
func (c *periodCounter) opening(start time.Time, withApps bool) map[periodScope]*periodTally {
	c.check()
	tallies := make(map[periodScope]*periodTally)
	for scope, now := range c.active {
		if scope.app != "" && !withApps {
			continue
		}
		t := tallyOf(tallies, scope)
		for user := range now.users {
			t.users[user] = true
		}
		t.peak(*now, start)
	}
	return tallies
}

// observe follows the Model's change by an event at t, which only the
// event's user on its server and their connections can have made, and
// counts it in the open periods.
func (c *periodCounter) observe(ev *LogEvent, t time.Time) {
	key := pairKey{strings.ToLower(ev.Server), strings.ToLower(ev.Directory + `\` + ev.UserID)}
	server := periodScope{server: key.server}
	sessions := 0
	if p := c.m.pairs[key]; p != nil {
		sessions = p.sessions
	}
	gained := sessions - c.pairs[key]
	c.pairs[key] = sessions
	if sessions == 0 {
		delete(c.pairs, key)
	}
	c.set(periodScope{}, key.user, c.m.users[key.user] != nil, gained, t)
	c.set(server, key.user, sessions > 0, gained, t)
	for app, members := range c.m.members {
		c.set(periodScope{app: app}, key.user, members[key.user] != nil, 0, t)
	}
	for scope, now := range c.active {
		if scope.app != "" && now.users[key.user] && c.m.members[scope.app][key.user] == nil {
			c.set(scope, key.user, false, 0, t)
		}
	}
	if gained > 0 {
		for _, scope := range []periodScope{server, {}} {
			tallyOf(c.hours, scope).started += gained
			tallyOf(c.days, scope).started += gained
		}
	}
}

// set notes whether user is active in scope now, and the sessions it
// gained, and counts the scope in the open periods.
func (c *periodCounter) set(scope periodScope, user string, active bool, gained int, t time.Time) {
	now := c.active[scope]
	if now == nil {
		if !active {
			return
		}
		now = &scopeNow{users: make(map[string]bool)}
		c.active[scope] = now
	}
	now.sessions += gained
	if !active {
		delete(now.users, user)
		if len(now.users) == 0 {
			delete(c.active, scope)
		}
		return
	}
	now.users[user] = true
	day := tallyOf(c.days, scope)
	day.users[user] = true
	day.peak(*now, t)
	if scope.app == "" {
		hour := tallyOf(c.hours, scope)
		hour.users[user] = true
		hour.peak(*now, t)
	}
}

// tallyOf is scope's tally among tallies, made if new.
func tallyOf(tallies map[periodScope]*periodTally, scope periodScope) *periodTally {
	t := tallies[scope]
	if t == nil {
		t = &periodTally{users: make(map[string]bool)}
		tallies[scope] = t
	}
	return t
}

// peak raises the tally's peaks to who is active at t.
func (t *periodTally) peak(now scopeNow, at time.Time) {
	if len(now.users) > t.peakUsers {
		t.peakUsers, t.peakAt = len(now.users), at
	}
	t.peakSessions = max(t.peakSessions, now.sessions)
}

// check compares what observe kept with the Model itself: a difference
// would be a change the Model made that observe did not follow.
func (c *periodCounter) check() {
	want := make(map[periodScope]*scopeNow)
	add := func(scope periodScope, user string, sessions int) {
		if want[scope] == nil {
			want[scope] = &scopeNow{users: make(map[string]bool)}
		}
		want[scope].users[user] = true
		want[scope].sessions += sessions
	}
	for key, p := range c.m.pairs {
		add(periodScope{}, key.user, p.sessions)
		add(periodScope{server: key.server}, key.user, p.sessions)
	}
	for app, members := range c.m.members {
		for user := range members {
			add(periodScope{app: app}, user, 0)
		}
	}
	if len(want) != len(c.active) {
		panic(fmt.Sprintf("replay periods: %d scopes active in the Model, %d followed", len(want), len(c.active)))
	}
	for scope, w := range want {
		got := c.active[scope]
		if got == nil || got.sessions != w.sessions || !maps.Equal(got.users, w.users) {
			panic(fmt.Sprintf("replay periods: scope %+v followed as %+v, the Model has %+v", scope, got, w))
		}
	}
}

// emit writes the points of a period's tallies.
func (c *periodCounter) emit(tallies map[periodScope]*periodTally, kind string, start time.Time, complete bool) {
	for scope, t := range tallies {
		if len(t.users) == 0 {
			continue
		}
		p := PeriodExpected{Period: kind, Start: start, PeakUsers: t.peakUsers, PeakSessions: t.peakSessions, PeakAt: t.peakAt.UTC(),
			DistinctUsers: len(t.users), SessionsStarted: t.started, Complete: complete}
		switch {
		case scope.app != "":
			p.App, p.PeakSessions, p.SessionsStarted = c.names[scope], 0, 0
		case scope.server != "":
			p.Server = c.names[scope]
		}
		c.out = append(c.out, p)
	}
}
