// Package state keeps the open sessions of a Qlik Sense site, reference
// counted per proxy server and user, and answers who is active. It does no
// I/O and knows nothing of Telegraf, so it can be tested and benchmarked alone.
// It is not safe for concurrent use: the caller serialises access, except
// that Summarise may run alongside the other methods (see TakeChanges).
//
// A user's sessions on a server are a count. Sessions whose proxy session id
// is known (from the log files, from a connection event, from the session
// API) are also kept by id, so that a stop or a connection names the very
// session; the others are anonymous. See sessions.go for the rules that make
// the count exact when datagrams arrive out of order.
package state

import (
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Outcome says what an event did to the state.
type Outcome uint8

const (
	// Unchanged says the event changed no count (a connection of a known session,
	// any Close connection, a Start whose session was already counted).
	Unchanged Outcome = iota
	// Changed says a session was opened or closed.
	Changed
	// OrphanStop is a Stop session for a user with no open session on that
	// server, e.g. one that started before we listened; nothing changed.
	OrphanStop
	// Refused says the event would have made a new user or server beyond
	// Config.MaxUsers or Config.MaxServers; nothing changed.
	Refused
	// RefusedMaxUserSessions says the event would have opened a session
	// beyond Config.MaxUserSessions; nothing changed.
	RefusedMaxUserSessions
	// RefusedSessionIDLength says the event named a session id longer than
	// MaxSessionIDLength; nothing changed.
	RefusedSessionIDLength
)

// Config sets the state's rules and limits. The zero Config has no reorder
// window and no limits.
type Config struct {
	// ReorderWindow is how long an event may arrive after another of the same
	// session that happened after it. log4net sends sessions and connections
	// through two UdpAppenders, so a session's Open connection may overtake
	// its Start session, and its Stop session may overtake its Start. Within
	// the window, a Start session takes over a session that a connection
	// proved, and a Stop that came first cancels its Start. Zero turns that
	// off.
	ReorderWindow time.Duration
	// MaxUsers and MaxServers bound what senders can make the state hold;
	// events that would go beyond them are refused. Zero: no limit.
	MaxUsers   int
	MaxServers int
	// MaxApps bounds the apps whose connections are counted; connections to
	// more are not counted per app.
	MaxApps int
	// MaxUserSessions bounds one user's open sessions over all servers:
	// events that would open more are refused, and the session API and a
	// restore give a user no more. Zero: no limit.
	MaxUserSessions int
	// SessionLimit is the open sessions that put a user at the limit in
	// Usage (Qlik Sense's parallel sessions); zero: none.
	SessionLimit int
}

// DefaultMaxUserSessions is the plugin's max_user_sessions. Qlik
// Sense allows a user 5 parallel sessions by default; 100 leave room for a
// site that allows more and for sessions whose Stop was lost, and bound
// what a sender that makes session ids up can make one user hold.
const DefaultMaxUserSessions = 100

// MaxSessionIDLength is the longest proxy session id the state keeps, in
// bytes: events naming a longer one are refused. The proxies' ids are
// GUIDs (36 bytes), the log files' ids hashes (64).
const MaxSessionIDLength = 128

// DefaultReorderWindow is how late a Start session may come after its own
// Open connection or Stop session and still be recognised as theirs. The two
// appenders' datagrams overtake each other by milliseconds; seconds leave a
// wide margin, while a user who really starts a second session on the same
// server within them is rare, and that session's connections correct the
// count.
const DefaultReorderWindow = 5 * time.Second

// Counters are the state's own tallies since it was created.
type Counters struct {
	StopsWithoutStart uint64 // Stop session with no open session to close
	SessionsInferred  uint64 // sessions opened by an Open connection with no known session
	SessionsExpired   uint64 // sessions closed by Expire
	ReconcileAdded    uint64 // sessions the proxy session API knew and the events had missed
	ReconcileRemoved  uint64 // sessions the events left open and the API did not know
	// StartsMatched are Start sessions that arrived after a connection of
	// their session had proved it, within the reorder window, or that named
	// a session already known by its id.
	StartsMatched uint64
	// StartsCancelled are Start sessions whose Stop session had arrived
	// first, within the reorder window.
	StartsCancelled uint64
	// RefusedMaxUsers and RefusedMaxServers count events refused by the
	// limits.
	RefusedMaxUsers   uint64
	RefusedMaxServers uint64
	// APIRefusedMaxUsers and APIRefusedMaxServers count the sessions of
	// proxy session API answers that the limits refused (see Reconcile).
	APIRefusedMaxUsers   uint64
	APIRefusedMaxServers uint64
	// RefusedMaxApps counts connections not counted per app: their app
	// would have been beyond Config.MaxApps.
	RefusedMaxApps uint64
	// RefusedMaxUserSessions counts events refused by
	// Config.MaxUserSessions, and the session API answers and restored
	// records that it cut; RefusedSessionIDLength events refused by
	// MaxSessionIDLength.
	RefusedMaxUserSessions uint64
	RefusedSessionIDLength uint64
}

// user is one DIR\userid across the whole site.
type user struct {
	key       string // case-folded DIR\userid
	name      string // DIR\userid as first seen
	directory string // as first seen
	id        string // as first seen
	// servers are those on which the user has at least one session: usually
	// one or two, so a slice beats a map.
	servers  []*server
	sessions int // open sessions over all servers
	observed any // Transitions' slot (Change.UserSlot)
}

// userOnServer is one user's open sessions on one proxy.
type userOnServer struct {
	server    *server
	user      *user
	sessions  int
	firstSeen time.Time // when the oldest of these sessions was first seen
	lastSeen  time.Time // the last event for this user on this server
	// startSeen: the first of these sessions came with its Start session
	// (not a connection, the session API or a restore), so firstSeen is
	// when the user's time on this server began.
	startSeen bool
	// detail is what only some users need: sessions known by id, sessions
	// awaiting their Start. Most users never need it.
	detail *pairDetail
}

type server struct {
	key      string // case-folded name
	name     string // as first seen
	users    map[string]*userOnServer
	names    changeLog // of users, for summaries
	sessions int

	spread    sessionSpread // sessions per user (usage.go)
	lastEvent time.Time     // see Usage.LastEvent
	observed  any           // Transitions' slot (Change.ServerSlot)
}

// State is the set of open sessions of a site.
type State struct {
	cfg      Config
	servers  map[string]*server // by case-folded host name
	users    map[string]*user   // by case-folded DIR\userid
	sessions int
	// emptied are servers whose last user left since the last TakeChanges:
	// they get one final zero summary, then are forgotten.
	emptied  map[string]*server
	counters Counters
	// generation counts changes, for savers; see Generation.
	generation uint64
	names      changeLog // of users, for summaries
	// spread counts users by sessions across servers (usage.go).
	spread sessionSpread
	// lists are the user lists of the last summaries; only Summarise
	// touches them.
	lists summaryLists
	// reconciling notes, per server being reconciled, the users that saw
	// events since BeginReconcile.
	reconciling map[string]map[string]struct{}
	// early holds the Stop sessions that arrived before their Start, per
	// case-folded server and user (see reorder.go).
	early map[pairKey]*earlyStops
	// draining are sessions that a Stop ended, or seemed to, whose
	// connections are still open (see reorder.go).
	draining map[pairKey]*drainingSessions
	// apps are those with open connections, by case-folded id; emptiedApps
	// those whose last user left since the last TakeChanges.
	apps        map[string]*app
	emptiedApps map[string]*app
	appsChanged bool      // see AppsChanged
	lastSweep   time.Time // see sweepWhenFull

	keyBuf []byte // scratch space for case-folded keys, so lookups do not allocate
	// transitions, if set, hears of every change (transitions.go), in
	// change, reused so that telling it allocates nothing.
	transitions Transitions
	change      Change
}

// New returns an empty State.
func New(cfg Config) *State {
	return &State{
		cfg:      cfg,
		servers:  make(map[string]*server),
		users:    make(map[string]*user),
		emptied:  make(map[string]*server),
		early:    make(map[pairKey]*earlyStops),
		draining: make(map[pairKey]*drainingSessions),

		apps:        make(map[string]*app),
		emptiedApps: make(map[string]*app),
	}
}

// Apply records one event seen at now. When the server or the user is known,
// it rewrites the event's names to the spellings first seen, so that every
// metric names them alike. On a Stop session it sets ev.Duration when it
// knows how long the session lasted.
func (s *State) Apply(ev *event.Event, now time.Time) Outcome {
	if len(ev.SessionID) > MaxSessionIDLength {
		return s.refuseSessionID(ev)
	}
	srv, us := s.lookup(ev.Server, ev.Directory, ev.UserID)
	ev.Duration = 0
	outcome := Unchanged
	switch ev.Command {
	case event.StartSession:
		outcome, us = s.start(srv, us, ev, now)
	case event.StopSession:
		outcome = s.stop(srv, us, ev, now)
	case event.OpenConnection:
		outcome, us = s.openConnection(srv, us, ev, now)
	case event.CloseConnection:
		s.closeConnection(us, ev, now)
	}
	if len(s.reconciling) > 0 {
		s.noteEvent(ev.Server, ev.Directory, ev.UserID)
	}
	// us may have closed its last session: its names still stand.
	firstSpellings(ev, srv, us)
	if us != nil {
		us.server.noteEvent(now)
	} else if srv != nil {
		srv.noteEvent(now)
	}
	s.generation++
	return outcome
}

// refuseSessionID refuses an event whose session id is longer than
// MaxSessionIDLength, which no proxy's is: a sender that makes ids up.
func (s *State) refuseSessionID(ev *event.Event) Outcome {
	srv, us := s.lookup(ev.Server, ev.Directory, ev.UserID)
	ev.Duration = 0
	s.counters.RefusedSessionIDLength++
	firstSpellings(ev, srv, us)
	return RefusedSessionIDLength
}

// firstSpellings gives ev the names first seen of its server and user, either nil
// if unknown.
func firstSpellings(ev *event.Event, srv *server, us *userOnServer) {
	if us != nil {
		ev.Server, ev.Directory, ev.UserID = us.server.name, us.user.directory, us.user.id
	} else if srv != nil {
		ev.Server = srv.name
	}
}

// lookup returns a server and the user's open sessions on it, either nil if
// unknown.
func (s *State) lookup(serverName, directory, userID string) (*server, *userOnServer) {
	srv := s.servers[s.serverKey(serverName)]
	if srv == nil {
		return nil, nil
	}
	return srv, srv.users[s.userKey(directory, userID)]
}

// add opens n sessions for a user on a server, or fewer, see addTo.
func (s *State) add(serverName, directory, userID string, n int, firstSeen, lastSeen time.Time) (*userOnServer, Outcome) {
	srv, us := s.lookup(serverName, directory, userID)
	return s.addTo(srv, us, serverName, directory, userID, n, firstSeen, lastSeen)
}

// addTo is add for a caller that already looked the server and the user up
// (either may be nil), which saves a second lookup on the hot path. It
// opens as many of the n sessions as Config.MaxUserSessions leaves room
// for; when a limit refuses a new user or server, or leaves no room, it
// returns nil and the limit's Outcome. It counts what a limit refused.
//
//nolint:revive // argument-limit: the hot path passes its lookups and the event's fields as they are
func (s *State) addTo(srv *server, us *userOnServer, serverName, directory, userID string, n int,
	firstSeen, lastSeen time.Time) (*userOnServer, Outcome) {
	var u *user
	newPair, newUser := us == nil, false
	if us != nil {
		u = us.user
	} else {
		if !s.admits(srv, directory, userID) {
			return nil, Refused
		}
		u = s.users[s.userKey(directory, userID)]
	}
	if limit := s.cfg.MaxUserSessions; limit > 0 {
		open := 0
		if u != nil {
			open = u.sessions
		}
		if open+n > limit {
			s.counters.RefusedMaxUserSessions++
			if n = limit - open; n <= 0 {
				return nil, RefusedMaxUserSessions
			}
		}
	}
	if srv == nil {
		key := string(foldCase(nil, serverName))
		if srv = s.emptied[key]; srv != nil {
			delete(s.emptied, key)
		} else {
			srv = &server{key: key, name: strings.Clone(serverName), users: make(map[string]*userOnServer)}
		}
		s.servers[key] = srv
	}
	if us == nil {
		if u == nil {
			newUser = true
			key := string(s.userKeyBytes(directory, userID))
			u = &user{key: key, directory: strings.Clone(directory), id: strings.Clone(userID)}
			u.name = u.directory + `\` + u.id
			s.users[key] = u
			s.names.add(key, u.name, len(s.users))
		}
		u.servers = append(u.servers, srv)
		us = &userOnServer{server: srv, user: u, firstSeen: firstSeen}
		srv.users[u.key] = us
		srv.names.add(u.key, u.name, len(srv.users))
	}
	us.sessions += n
	us.user.sessions += n
	s.sessionsMoved(us, n)
	if lastSeen.After(us.lastSeen) {
		us.lastSeen = lastSeen
	}
	srv.sessions += n
	s.sessions += n
	if s.transitions != nil {
		s.opened(us, n, newPair, newUser)
	}
	return us, Changed
}

// admits tells whether the limits let a user without sessions on srv (nil:
// a server without sessions) open one, and counts a refusal.
func (s *State) admits(srv *server, directory, userID string) bool {
	if srv == nil && s.cfg.MaxServers > 0 && len(s.servers) >= s.cfg.MaxServers {
		s.counters.RefusedMaxServers++
		return false
	}
	if s.cfg.MaxUsers > 0 && len(s.users) >= s.cfg.MaxUsers && s.users[s.userKey(directory, userID)] == nil {
		s.counters.RefusedMaxUsers++
		return false
	}
	return true
}

// remove closes n of a user's sessions on a server (n <= us.sessions).
func (s *State) remove(srv *server, us *userOnServer, n int) {
	us.sessions -= n
	us.user.sessions -= n
	s.sessionsMoved(us, -n)
	srv.sessions -= n
	s.sessions -= n
	if us.sessions > 0 {
		if s.transitions != nil {
			s.closed(us, n, false, false)
		}
		return
	}
	s.closePairApps(us)
	us.detail = nil
	delete(srv.users, us.user.key)
	srv.names.remove(us.user.key, len(srv.users))
	u := us.user
	for i, other := range u.servers {
		if other == srv {
			u.servers[i] = u.servers[len(u.servers)-1]
			u.servers[len(u.servers)-1] = nil
			u.servers = u.servers[:len(u.servers)-1]
			break
		}
	}
	if len(u.servers) == 0 {
		delete(s.users, u.key)
		s.names.remove(u.key, len(s.users))
	}
	if s.transitions != nil {
		s.closed(us, n, true, len(u.servers) == 0)
	}
	if len(srv.users) == 0 {
		delete(s.servers, srv.key)
		s.emptied[srv.key] = srv
	}
}

// Expire closes every session of the (server, user) pairs with no event
// since cutoff and returns how many sessions it closed.
func (s *State) Expire(cutoff time.Time) (sessions int) {
	for _, srv := range s.servers {
		for _, us := range srv.users {
			if us.lastSeen.Before(cutoff) {
				sessions += us.sessions
				s.remove(srv, us, us.sessions)
			}
		}
	}
	if sessions > 0 {
		s.counters.SessionsExpired += uint64(sessions)
		s.generation++
	}
	return sessions
}

// Counters returns the state's tallies.
func (s *State) Counters() Counters { return s.counters }

// ActiveUsers is the number of users with at least one open session.
func (s *State) ActiveUsers() int { return len(s.users) }

// ActiveSessions is the number of open sessions.
func (s *State) ActiveSessions() int { return s.sessions }

// Servers is the number of servers with at least one open session.
func (s *State) Servers() int { return len(s.servers) }

// UserServerPairs is the number of (server, user) pairs with open sessions.
func (s *State) UserServerPairs() int {
	n := 0
	for _, srv := range s.servers {
		n += len(srv.users)
	}
	return n
}
