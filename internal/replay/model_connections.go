package replay

import (
	"strings"
	"time"
)

// Connections: an Open connection proves a session, names one by its id,
// and counts in the app its context names until it closes or its session
// ends.

func (m *Model) open(key pairKey, p *pair, ev *Event, at time.Time) {
	id := ev.SessionID
	if p == nil {
		// It proves a session: one that began before we listened, or whose
		// Start is late or lost.
		p = m.addSession(key, nil, ev)
		m.prove(p, id, at)
		m.connect(key.user, p, id, ev.Context)
		return
	}
	if id == "" {
		m.connect(key.user, p, id, ev.Context)
		return
	}
	if s := p.find(id); s != nil {
		s.connections++
		s.unsure = false
		m.connect(key.user, p, id, ev.Context)
		if p.ghosts > 0 && p.unsure() == nil {
			// Every record proved alive: the session the Stop ended was one
			// without an id or, if none is left, one we never knew of,
			// which we count now.
			none := p.unnamed() == 0
			p.ghosts--
			if none {
				m.addSession(key, p, ev)
			}
		}
		return
	}
	if n := p.unnamed(); n > 0 {
		// One of the sessions without an id: now it has one.
		s := &session{id: id, connections: 1}
		if n == m.awaiting(p, at) {
			s.awaitingSince = p.provedAt
			p.proved--
		}
		p.named = append(p.named, s)
		m.connect(key.user, p, id, ev.Context)
		return
	}
	if s := p.unsure(); s != nil && s.connections == 0 {
		// The session a Stop took for ended lives on as this one.
		p.forget(s)
		m.disconnectAll(key.user, s.apps)
		p.named = append(p.named, &session{id: id, connections: 1})
		m.connect(key.user, p, id, ev.Context)
		return
	}
	m.addSession(key, p, ev) // a session we did not know of
	m.prove(p, id, at)
	m.connect(key.user, p, id, ev.Context)
}

// prove records a session a connection proved, awaiting its Start.
func (m *Model) prove(p *pair, id string, at time.Time) {
	if id != "" {
		p.named = append(p.named, &session{id: id, awaitingSince: at, connections: 1})
		return
	}
	if !m.within(p.provedAt, at) {
		p.proved = 0
	}
	p.proved++
	p.provedAt = at
}

func (m *Model) close(key pairKey, p *pair, ev *Event) {
	if p == nil || p.find(ev.SessionID) == nil {
		m.closeDraining(key, ev)
	}
	if p == nil {
		return
	}
	if ev.SessionID == "" {
		m.disconnect(key.user, p.unnamedApps, ev.Context)
		return
	}
	s := p.find(ev.SessionID)
	if s == nil {
		return
	}
	if s.connections > 0 {
		s.connections--
		m.disconnect(key.user, s.apps, ev.Context)
	}
	if s.connections == 0 && s.unsure && p.ghosts > 0 {
		// The session a Stop ended has closed its last connection.
		p.ghosts--
		p.forget(s)
		m.disconnectAll(key.user, s.apps)
	}
}

// connect counts a connection to the app its context names, for the
// session id (or among the pair's connections without one).
func (m *Model) connect(user string, p *pair, id, context string) {
	app := appID(context)
	if app == "" {
		return
	}
	key := strings.ToLower(app)
	if _, ok := m.appNames[key]; !ok {
		m.appNames[key] = app
	}
	if s := p.find(id); s != nil {
		s.apps = addApp(s.apps, key)
	} else {
		p.unnamedApps = addApp(p.unnamedApps, key)
	}
	members := m.members[key]
	if members == nil {
		members = make(map[string]*member)
		m.members[key] = members
	}
	mb := members[user]
	if mb == nil {
		mb = &member{display: m.users[user].display}
		members[user] = mb
	}
	mb.connections++
}

// disconnect closes a connection to the app context names, if apps counts one.
func (m *Model) disconnect(user string, apps map[string]int, context string) {
	key := strings.ToLower(appID(context))
	if key == "" || apps[key] == 0 {
		return
	}
	if apps[key]--; apps[key] == 0 {
		delete(apps, key)
	}
	m.leaveApp(user, key, 1)
}

// disconnectAll closes every connection apps counts: the session ended.
func (m *Model) disconnectAll(user string, apps map[string]int) {
	for key, n := range apps {
		m.leaveApp(user, key, n)
	}
}

func (m *Model) leaveApp(user, app string, n int) {
	mb := m.members[app][user]
	if mb == nil {
		return
	}
	if mb.connections -= n; mb.connections > 0 {
		return
	}
	delete(m.members[app], user)
	if len(m.members[app]) == 0 {
		delete(m.members, app)
	}
}

func addApp(apps map[string]int, key string) map[string]int {
	if apps == nil {
		apps = make(map[string]int)
	}
	apps[key]++
	return apps
}

// mergeApps adds the connections of from to to, which it returns.
func mergeApps(to, from map[string]int) map[string]int {
	if len(from) == 0 {
		return to
	}
	if to == nil {
		to = make(map[string]int, len(from))
	}
	for app, n := range from {
		to[app] += n
	}
	return to
}
