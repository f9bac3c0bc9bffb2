// Package periods keeps a site's usage over calendar hours and days: the
// peaks of users and sessions, the distinct users and the sessions started,
// for the site, each server and (per day) each app, and the distinct users
// of the last 7 and 30 days. It follows the state's transitions
// (state.Transitions: a user's first session on a server opening, the last
// closing, a user's first connection to an app), so that an event costs a
// few counter updates, and it does no I/O and knows nothing of Telegraf.
// Its clock is what the caller gives Advance: the events' times, and the
// gathers'. Not safe for concurrent use: the state's lock serialises it.
//
// Distinct users are counted exactly with one mark per user and scope: the
// last hour and day in which the user counted there. A user active when a
// period begins counts in it at once (the period's count starts at the
// users active) and is marked lazily, when they leave; a user who comes in
// counts unless marked for the period already. The rolling windows count
// the users active now plus the users not active by the day they left
// (a ring of 32 days), so that no gather walks the users.
package periods

import (
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// Config sets a Tracker's calendar and limit.
type Config struct {
	// Location is the period_timezone; nil: time.Local.
	Location *time.Location
	// MaxUsers bounds the users remembered (those active within the last
	// 30 days); 0: no limit. A user beyond it counts in the peaks but not
	// in the distinct users, and is counted in Refused.
	MaxUsers int
}

// Kind is a period's length: an hour or a day of the calendar.
type Kind uint8

// The kinds of period.
const (
	Hour Kind = iota
	Day
)

// String is the period tag's value.
func (k Kind) String() string {
	if k == Hour {
		return "hour"
	}
	return "day"
}

// Point is one period of one scope: the site (Server and App empty), a
// server, or an app (days only; no sessions).
type Point struct {
	Kind   Kind
	Server string // the server's name as first seen
	App    string // the app's id as first seen
	Start  time.Time
	// PeakUsers and PeakSessions are the most active at one moment of the
	// period, counting those active when it began; PeakAt when the peak of
	// users was first reached.
	PeakUsers, PeakSessions int
	PeakAt                  time.Time
	// Distinct are the users active at any moment of the period.
	Distinct int
	// Started are the sessions opened within the period.
	Started int
	// Complete: the period has ended, and this is its final point.
	Complete bool
}

// Rolling is the distinct users of the last 7 and 30 days, today included,
// of the site (Server empty) or a server.
type Rolling struct {
	Server                string
	Distinct7, Distinct30 int
}

// ring is how many days the rolling windows keep per scope: 30 and room.
const ring = 32

// window is the longest rolling window, in days.
const window = 30

// tally is one open period of a scope.
type tally struct {
	peakUsers, peakSessions int
	peakAt                  time.Time
	distinct, started       int
}

// scope is the site, a server or an app.
type scope struct {
	key, name string // a server's or app's key and name; empty for the site
	app       bool
	// users and sessions are active now (an app's users have a connection
	// to it; it has no sessions).
	users, sessions int
	hour, day       tally
	// inactive counts the remembered users not active here by the day they
	// were last (slot day%ring), for the rolling windows (not for apps).
	inactive [ring]int32
	// marks are the users' marks of this scope, so that a server or an app
	// nobody remembers can be forgotten; forgotten: it was.
	marks     int
	forgotten bool
}

// mark is when a user last counted in a scope.
type mark struct {
	hour   int64 // start of the last hour (Unix seconds)
	day    int32 // the last day (dayNumber); 0: never
	active bool
}

// scopeMark is a user's mark of a server or an app.
type scopeMark struct {
	scope *scope
	mark
}

// user is what a Tracker remembers of one user.
type user struct {
	site    mark
	servers []scopeMark // usually one or two
	apps    []scopeMark // the apps of today
}

// Tracker keeps the periods. Make one with New.
type Tracker struct {
	cfg Config
	// set: the clock was given a time; now is the latest time given.
	set bool
	now time.Time
	// The open hour and day, and the day's number.
	hourStart, hourEnd time.Time
	dayStart, dayEnd   time.Time
	day                int32

	site    scope
	servers map[string]*scope // by key
	apps    map[string]*scope // by key
	users   map[string]*user  // by the state's user key

	// restoring: sessions that open are restored ones, not started.
	restoring bool
	finals    []Point
	refused   uint64
	// generation counts the changes, for saves.
	generation uint64
}

// New returns a Tracker whose clock is not set: the first Advance sets it.
func New(cfg Config) *Tracker {
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	return &Tracker{
		cfg:     cfg,
		servers: make(map[string]*scope),
		apps:    make(map[string]*scope),
		users:   make(map[string]*user),
	}
}

// Refused counts the users not remembered for the distinct counts:
// Config.MaxUsers users were remembered already.
func (t *Tracker) Refused() uint64 { return t.refused }

// Remembered is the number of users remembered.
func (t *Tracker) Remembered() int { return len(t.users) }

// Generation changes whenever the Tracker does, for savers.
func (t *Tracker) Generation() uint64 { return t.generation }

// Restoring tells the Tracker that the sessions opening until
// Restoring(false) are restored from a state file: they count in the
// peaks and the distinct users, not in the sessions started.
func (t *Tracker) Restoring(on bool) { t.restoring = on }

// Opened is state.Transitions' Opened.
func (t *Tracker) Opened(c *state.Change) {
	t.generation++
	srv := t.serverOf(c)
	n := c.Sessions
	srv.sessions += n
	t.site.sessions += n
	if !t.restoring {
		srv.hour.started += n
		srv.day.started += n
		t.site.hour.started += n
		t.site.day.started += n
	}
	if c.OnServer || c.OnSite {
		u := t.userOf(c)
		if c.OnSite {
			t.site.users++
			if u != nil {
				t.join(&t.site, &u.site)
			}
		}
		if c.OnServer {
			srv.users++
			if u != nil {
				t.join(srv, &u.markOf(srv, &u.servers).mark)
			}
		}
	}
	t.peak(srv)
	t.peak(&t.site)
}

// Closed is state.Transitions' Closed.
func (t *Tracker) Closed(c *state.Change) {
	t.generation++
	srv := t.serverOf(c)
	srv.sessions -= c.Sessions
	t.site.sessions -= c.Sessions
	if !c.OnServer {
		return
	}
	u, _ := (*c.UserSlot).(*user)
	srv.users--
	if u != nil {
		if m := u.find(srv, u.servers); m != nil {
			t.leave(srv, &m.mark)
		}
	}
	if c.OnSite {
		t.site.users--
		if u != nil {
			t.leave(&t.site, &u.site)
		}
	}
}

// serverOf is the scope of c's server: kept in the state's slot, looked
// up (or made) when the slot holds none or one forgotten since.
func (t *Tracker) serverOf(c *state.Change) *scope {
	if srv, ok := (*c.ServerSlot).(*scope); ok && !srv.forgotten {
		return srv
	}
	srv := t.server(c.Server, c.ServerName)
	*c.ServerSlot = srv
	return srv
}

// userOf is what is remembered of c's user, kept in the state's slot
// while the state holds the user; nil if there is no room.
func (t *Tracker) userOf(c *state.Change) *user {
	if u, ok := (*c.UserSlot).(*user); ok {
		return u
	}
	u := t.user(c.User)
	if u != nil {
		*c.UserSlot = u
	}
	return u
}

// AppJoined is state.Transitions' AppJoined.
func (t *Tracker) AppJoined(appKey, appID, userKey string) {
	t.generation++
	a := t.apps[appKey]
	if a == nil {
		a = &scope{key: appKey, name: appID, app: true}
		t.apps[appKey] = a
	}
	a.users++
	if u := t.users[userKey]; u != nil {
		m := u.markOf(a, &u.apps)
		m.active = true
		if m.day != t.day {
			m.day = t.day
			a.day.distinct++
		}
	}
	if a.users > a.day.peakUsers {
		a.day.peakUsers, a.day.peakAt = a.users, t.now
	}
}

// AppLeft is state.Transitions' AppLeft.
func (t *Tracker) AppLeft(appKey, _, userKey string) {
	t.generation++
	a := t.apps[appKey]
	if a == nil {
		return
	}
	a.users--
	if u := t.users[userKey]; u != nil {
		if m := u.find(a, u.apps); m != nil {
			m.active, m.day = false, t.day
		}
	}
}

// server is the scope of a server, made if new.
func (t *Tracker) server(key, name string) *scope {
	srv := t.servers[key]
	if srv == nil {
		srv = &scope{key: key, name: name}
		t.servers[key] = srv
	}
	return srv
}

// user is what is remembered of a user, made if new and there is room;
// nil if not.
func (t *Tracker) user(key string) *user {
	u := t.users[key]
	if u == nil {
		if t.cfg.MaxUsers > 0 && len(t.users) >= t.cfg.MaxUsers {
			t.refused++
			return nil
		}
		u = &user{}
		t.users[key] = u
	}
	return u
}

// markOf is the user's mark of sc in marks, added if new.
func (u *user) markOf(sc *scope, marks *[]scopeMark) *scopeMark {
	if m := u.find(sc, *marks); m != nil {
		return m
	}
	sc.marks++
	*marks = append(*marks, scopeMark{scope: sc})
	return &(*marks)[len(*marks)-1]
}

func (*user) find(sc *scope, marks []scopeMark) *scopeMark {
	for i := range marks {
		if marks[i].scope == sc {
			return &marks[i]
		}
	}
	return nil
}

// join counts a user coming into a site or server scope.
func (t *Tracker) join(sc *scope, m *mark) {
	if m.day != 0 && t.day-m.day < ring {
		sc.inactive[m.day%ring]-- // no longer inactive since that day
	}
	m.active = true
	hour := t.hourStart.Unix()
	if m.hour != hour {
		m.hour = hour
		sc.hour.distinct++
	}
	if m.day != t.day {
		m.day = t.day
		sc.day.distinct++
	}
}

// leave notes a user leaving a site or server scope: they counted in the
// open periods, if only since they began.
func (t *Tracker) leave(sc *scope, m *mark) {
	m.active = false
	m.hour, m.day = t.hourStart.Unix(), t.day
	sc.inactive[t.day%ring]++
}

// peak raises the open periods' peaks of a site or server scope to now.
func (t *Tracker) peak(sc *scope) {
	for _, p := range [2]*tally{&sc.hour, &sc.day} {
		if sc.users > p.peakUsers {
			p.peakUsers, p.peakAt = sc.users, t.now
		}
		if sc.sessions > p.peakSessions {
			p.peakSessions = sc.sessions
		}
	}
}
