package replay

import (
	"slices"
	"strings"
	"time"
)

// Model is the replay's own account of the active set that events make, by
// the rules DESIGN.md and the plugin's documentation state, kept apart from
// the plugin's state package so that a bug there cannot hide on both sides
// of a comparison.
//
// A user (DIR\userid, any case, named as spelt when they became active) is
// active while they have a session on some server. A user's sessions on a
// server are a count; those whose proxy session id is known (every log row
// has it, a connection datagram names it in its message) are also kept by
// it. An Open connection of a session we do not know proves one. The two
// log4net appenders let a session's connection or Stop overtake its Start:
// within the reorder window the late Start takes over the session the
// connection proved, or is cancelled by the Stop that came first. A Stop
// without an id ends, in this order, a known session without connections,
// one never named by a connection, the only one with connections, and one
// still awaiting its Start; when several have connections it cannot tell
// which, and one of their records stands for the ended one until its
// connections close. A session's connections count per app (its context
// names the app) until they close or the session ends; after a Stop
// without an id they may still close, so they are counted for the window.
//
// Model is not safe for concurrent use.
type Model struct {
	window time.Duration
	pairs  map[pairKey]*pair
	users  map[string]*activeUser // by folded DIR\userid
	// serverNames and appNames are spelt as first seen; a Snapshot forgets
	// those no longer active, as the plugin's summaries do.
	serverNames map[string]string
	appNames    map[string]string
	members     map[string]map[string]*member // app → user → their connections to it
	early       map[pairKey]*earlyStops
	draining    map[pairKey]*drainingSessions
}

// pairKey is a user on a server, both folded.
type pairKey struct{ server, user string }

// pair is a user's open sessions on one server.
type pair struct {
	sessions int
	named    []*session // the sessions known by id, and the ghosts
	// ghosts are named records that stand for ended sessions, not knowing
	// which: the pair counts len(named)-ghosts sessions by id.
	ghosts int
	// proved are sessions without an id that connections without one
	// proved, awaiting their Start since provedAt.
	proved   int
	provedAt time.Time
	// unnamedApps are the connections without a session id, per app.
	unnamedApps map[string]int
}

// session is a session known by its proxy session id.
type session struct {
	id string
	// awaitingSince: a connection proved it before its Start came.
	awaitingSince time.Time
	connections   int
	apps          map[string]int // its open connections, per app
	// unsure: a Stop without an id may have ended it rather than the one it
	// was taken for; an event that names it makes it sure again.
	unsure bool
}

// activeUser is a user with open sessions.
type activeUser struct {
	display string // DIR\userid as spelt when they became active
	pairs   int    // servers they have sessions on
}

// member is a user's open connections to an app.
type member struct {
	display     string // the user's name when they joined the app
	connections int
}

// NewModel makes an empty model with the reorder window (0: none).
func NewModel(window time.Duration) *Model {
	return &Model{window: window, pairs: make(map[pairKey]*pair), users: make(map[string]*activeUser),
		serverNames: make(map[string]string), appNames: make(map[string]string), members: make(map[string]map[string]*member),
		early: make(map[pairKey]*earlyStops), draining: make(map[pairKey]*drainingSessions)}
}

// Apply takes in one event that happened, or arrived, at at. Commands the
// plugin does not track change nothing.
func (m *Model) Apply(ev *Event, at time.Time) {
	key := pairKey{strings.ToLower(ev.Server), strings.ToLower(ev.Directory + `\` + ev.UserID)}
	p := m.pairs[key]
	switch ev.Command {
	case StartSession:
		m.start(key, p, ev, at)
	case StopSession:
		m.stop(key, p, ev.SessionID, at)
	case OpenConnection:
		m.open(key, p, ev, at)
	case CloseConnection:
		m.close(key, p, ev)
	}
}

// within tells whether t is set and at most the window before at.
func (m *Model) within(t, at time.Time) bool {
	return m.window > 0 && !t.IsZero() && at.Sub(t) <= m.window
}

func (p *pair) find(id string) *session {
	if id == "" {
		return nil
	}
	for _, s := range p.named {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (p *pair) forget(s *session) {
	p.named = slices.DeleteFunc(p.named, func(other *session) bool { return other == s })
}

// unnamed is how many sessions the pair counts without an id.
func (p *pair) unnamed() int { return p.sessions - len(p.named) + p.ghosts }

// awaiting is how many unnamed sessions still await their Start.
func (m *Model) awaiting(p *pair, at time.Time) int {
	if !m.within(p.provedAt, at) {
		return 0
	}
	return p.proved
}

// unsure returns an unsure record, one without connections first, or nil.
func (p *pair) unsure() *session {
	var found *session
	for _, s := range p.named {
		switch {
		case !s.unsure:
		case s.connections == 0:
			return s
		case found == nil:
			found = s
		}
	}
	return found
}

// addSession counts one more session for the pair, making it (and the
// user, and the server's spelling) when it is the first.
func (m *Model) addSession(key pairKey, p *pair, ev *Event) *pair {
	if p == nil {
		p = &pair{}
		m.pairs[key] = p
		u := m.users[key.user]
		if u == nil {
			u = &activeUser{display: ev.Directory + `\` + ev.UserID}
			m.users[key.user] = u
		}
		u.pairs++
		if _, ok := m.serverNames[key.server]; !ok {
			m.serverNames[key.server] = ev.Server
		}
	}
	p.sessions++
	return p
}

// endSession counts one session less; with the last, the pair's
// connections close and the user may leave.
func (m *Model) endSession(key pairKey, p *pair) {
	if p.sessions--; p.sessions > 0 {
		return
	}
	for _, s := range p.named {
		m.disconnectAll(key.user, s.apps)
	}
	m.disconnectAll(key.user, p.unnamedApps)
	delete(m.pairs, key)
	u := m.users[key.user]
	if u.pairs--; u.pairs == 0 {
		delete(m.users, key.user)
	}
}

func (m *Model) start(key pairKey, p *pair, ev *Event, at time.Time) {
	if p != nil {
		if s := p.find(ev.SessionID); s != nil {
			s.awaitingSince = time.Time{} // a connection proved it: here is its Start
			return
		}
	}
	if ev.SessionID == "" {
		if m.takeEarlyStop(key, at) {
			return // its Stop came first
		}
		if p != nil && m.claimAwaiting(p, at) {
			return
		}
	}
	p = m.addSession(key, p, ev)
	if ev.SessionID != "" {
		p.named = append(p.named, &session{id: ev.SessionID})
		return
	}
	// A Stop just before took a session whose connections are still open:
	// it was this short session's own Stop, overtaken, and the session it
	// took lives on.
	if s := m.undrain(key, at); s != nil {
		if s.id != "" && p.find(s.id) == nil {
			s.unsure = true
			p.named = append(p.named, s)
		} else {
			p.unnamedApps = mergeApps(p.unnamedApps, s.apps)
		}
	}
}

// claimAwaiting gives a Start without an id to the session that has awaited
// its Start the longest, one without an id first; false if none awaits.
func (m *Model) claimAwaiting(p *pair, at time.Time) bool {
	var oldest *session
	for _, s := range p.named {
		if m.within(s.awaitingSince, at) && (oldest == nil || s.awaitingSince.Before(oldest.awaitingSince)) {
			oldest = s
		}
	}
	if m.awaiting(p, at) > 0 && (oldest == nil || !oldest.awaitingSince.Before(p.provedAt)) {
		p.proved--
		return true
	}
	if oldest == nil {
		return false
	}
	oldest.awaitingSince = time.Time{}
	return true
}

func (m *Model) stop(key pairKey, p *pair, id string, at time.Time) {
	if p == nil {
		if id == "" {
			m.noteEarlyStop(key, at) // its Start may be on its way
		}
		return
	}
	if p.sessions > 1 {
		m.stopOneOf(key, p, id, at)
	} else if id == "" {
		m.stopLast(key, p, at)
	}
	m.endSession(key, p)
}

// stopOneOf ends one of the pair's sessions (it has more than one).
func (m *Model) stopOneOf(key pairKey, p *pair, id string, at time.Time) {
	ended, ghost, awaited := m.pickEnded(p, id, at)
	switch {
	case ended != nil:
		p.forget(ended)
		if id == "" && ended.connections > 0 {
			m.drain(key, ended, at)
		} else {
			m.disconnectAll(key.user, ended.apps)
		}
	case ghost:
		p.ghosts++
	case awaited:
		p.proved--
	}
	if id != "" {
		return
	}
	if awaited {
		m.noteEarlyStop(key, at) // its Start may still come: it must not count again
	}
	for _, s := range p.named {
		if !m.within(s.awaitingSince, at) {
			s.unsure = true // the Stop may have ended this one instead
		}
	}
}

// pickEnded chooses the session a Stop ends: the one it names, else a
// known one without connections, else one never named (nil), else the only
// one with connections, else a ghost if several have some, else one
// awaiting its Start (awaited; nil for one without an id).
func (m *Model) pickEnded(p *pair, id string, at time.Time) (ended *session, ghost, awaited bool) {
	if s := p.find(id); s != nil {
		return s, false, false
	}
	connected := make([]*session, 0, len(p.named))
	for _, s := range p.named {
		if m.within(s.awaitingSince, at) {
			continue
		}
		if s.connections == 0 {
			return s, false, false
		}
		connected = append(connected, s)
	}
	waiting := m.awaiting(p, at)
	switch {
	case p.unnamed() > waiting:
		return nil, false, false
	case len(connected) == 1 && p.ghosts == 0:
		return connected[0], false, false
	case len(connected) > 0:
		return nil, true, false
	case waiting > 0:
		return nil, false, true
	}
	return p.named[0], false, true
}

// stopLast takes a Stop without an id for the pair's last session.
func (m *Model) stopLast(key pairKey, p *pair, at time.Time) {
	if m.awaiting(p, at) > 0 || len(p.named) == 1 && m.within(p.named[0].awaitingSince, at) {
		m.noteEarlyStop(key, at) // the session awaits its Start, which may come yet
		return
	}
	if len(p.named) > 0 && p.named[0].connections > 0 || len(p.unnamedApps) > 0 {
		// Its connections may close yet: they drain, those without an id
		// with the first record's.
		s := &session{}
		if len(p.named) > 0 {
			s = p.named[0]
		}
		s.apps = mergeApps(s.apps, p.unnamedApps)
		m.drain(key, s, at)
		// The plugin does so today: the connections of the other records
		// (a ghost's, or the live session's when the ghost is first)
		// neither drain nor close, and stay counted in their apps. The
		// model follows it knowingly, so that this comparison changes
		// nothing; see TestGhostsConnectionsStayCounted.
		p.named, p.unnamedApps = nil, nil
	}
}
