package state

import (
	"strings"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Who is in which app: the open connections of each session, per app (the
// app its context names), and per app the users with open connections and
// how many. A user with three tabs on one app is one user and three
// connections; a session's end closes its connections.

// app is a Qlik Sense app with open connections.
type app struct {
	key         string // case-folded GUID
	id          string // as first seen
	users       map[string]*appUser
	connections int
	names       changeLog // of users, for summaries
}

// appUser is one user's open connections to an app, over all servers.
type appUser struct {
	user        *user
	connections int
}

// appConnections are a session's open connections to one app.
type appConnections struct {
	app *app
	n   int
}

// openApp counts a connection to the app that context names, for the
// session id (or the pair's connections without an id).
func (s *State) openApp(us *userOnServer, id, context string) {
	appID := event.AppID(context)
	if appID == "" {
		return
	}
	s.countApp(us, s.connectionsOf(us, id), appID)
}

// countApp counts a connection to app appID in conns.
func (s *State) countApp(us *userOnServer, conns *[]appConnections, appID string) {
	a := s.apps[s.serverKey(appID)] // GUIDs fold like host names
	if a == nil {
		if s.cfg.MaxApps > 0 && len(s.apps) >= s.cfg.MaxApps {
			s.counters.RefusedMaxApps++
			return
		}
		key := string(foldCase(nil, appID)) // appID may alias a reused buffer
		if a = s.emptiedApps[key]; a != nil {
			delete(s.emptiedApps, key)
		} else {
			a = &app{key: key, id: strings.Clone(appID), users: make(map[string]*appUser)}
		}
		s.apps[key] = a
	}
	i := 0
	for i < len(*conns) && (*conns)[i].app != a {
		i++
	}
	if i == len(*conns) {
		*conns = append(*conns, appConnections{app: a})
	}
	(*conns)[i].n++
	a.connections++
	s.appsChanged = true
	u := a.users[us.user.key]
	if u == nil {
		u = &appUser{user: us.user}
		a.users[us.user.key] = u
		a.names.add(us.user.key, us.user.name, len(a.users))
		if s.transitions != nil {
			s.transitions.AppJoined(a.key, a.id, us.user.key)
		}
	}
	u.connections++
}

// connectionsOf is where a connection of the session id (or without one)
// is counted.
func (*State) connectionsOf(us *userOnServer, id string) *[]appConnections {
	d := us.details()
	if i := d.find(id); id != "" && i >= 0 {
		return &d.known[i].apps
	}
	return &d.anonymousApps
}

// closeApp uncounts a connection to the app that context names, if conns
// holds one.
func (s *State) closeApp(u *user, conns *[]appConnections, context string) {
	appID := event.AppID(context)
	if appID == "" {
		return
	}
	for i := range *conns {
		c := &(*conns)[i]
		if !strings.EqualFold(c.app.id, appID) {
			continue
		}
		s.uncount(u, c.app, 1)
		if c.n--; c.n == 0 {
			last := len(*conns) - 1
			(*conns)[i] = (*conns)[last]
			(*conns)[last] = appConnections{}
			*conns = (*conns)[:last]
		}
		return
	}
}

// closeApps uncounts all of conns: the session ended.
func (s *State) closeApps(u *user, conns []appConnections) {
	for _, c := range conns {
		s.uncount(u, c.app, c.n)
	}
}

// closePairApps uncounts all connections of a pair: its last session ended.
func (s *State) closePairApps(us *userOnServer) {
	d := us.detail
	if d == nil {
		return
	}
	for _, k := range d.known {
		s.closeApps(us.user, k.apps)
	}
	s.closeApps(us.user, d.anonymousApps)
}

func (s *State) uncount(u *user, a *app, n int) {
	a.connections -= n
	s.appsChanged = true
	au := a.users[u.key]
	if au == nil {
		return
	}
	if au.connections -= n; au.connections > 0 {
		return
	}
	delete(a.users, u.key)
	a.names.remove(u.key, len(a.users))
	if s.transitions != nil {
		s.transitions.AppLeft(a.key, a.id, u.key)
	}
	if len(a.users) == 0 {
		delete(s.apps, a.key)
		s.emptiedApps[a.key] = a
	}
}

// AppsChanged tells whether the users or connections of an app changed
// since it was last asked: a connection event changes no session count, but
// may change these.
func (s *State) AppsChanged() bool {
	changed := s.appsChanged
	s.appsChanged = false
	return changed
}

// Apps is the number of apps with open connections.
func (s *State) Apps() int { return len(s.apps) }
