package replay

import (
	"slices"
	"strings"
)

// Snapshot is the active set now, as a summary of the plugin shows it,
// with events as EventsSent. Like a summary, it forgets the spelling of the
// servers and apps that nobody uses any more: when they come back, it is
// that of their next event.
func (m *Model) Snapshot(events int) Expected {
	exp := Expected{EventsSent: events, ActiveUsers: len(m.users), Users: make([]string, 0, len(m.users)),
		Servers: make([]ServerExpected, 0, len(m.serverNames)), Apps: make([]AppExpected, 0, len(m.members))}
	for _, u := range m.users {
		exp.Users = append(exp.Users, u.display)
	}
	sortFolded(exp.Users)

	servers := make(map[string]*ServerExpected)
	for key, p := range m.pairs {
		srv := servers[key.server]
		if srv == nil {
			srv = &ServerExpected{Server: m.serverNames[key.server], Users: make([]string, 0, 1)}
			servers[key.server] = srv
		}
		srv.ActiveUsers++
		srv.ActiveSessions += p.sessions
		srv.Users = append(srv.Users, m.users[key.user].display)
		exp.ActiveSessions += p.sessions
	}
	for _, srv := range servers {
		sortFolded(srv.Users)
		exp.Servers = append(exp.Servers, *srv)
	}
	slices.SortFunc(exp.Servers, func(a, b ServerExpected) int {
		return strings.Compare(strings.ToLower(a.Server), strings.ToLower(b.Server))
	})
	for key := range m.serverNames {
		if servers[key] == nil {
			delete(m.serverNames, key)
		}
	}

	for key, members := range m.members {
		a := AppExpected{App: m.appNames[key], ActiveUsers: len(members), Users: make([]string, 0, len(members))}
		for _, mb := range members {
			a.ActiveConnections += mb.connections
			a.Users = append(a.Users, mb.display)
		}
		sortFolded(a.Users)
		exp.Apps = append(exp.Apps, a)
	}
	slices.SortFunc(exp.Apps, func(a, b AppExpected) int { return strings.Compare(strings.ToLower(a.App), strings.ToLower(b.App)) })
	for key := range m.appNames {
		if m.members[key] == nil {
			delete(m.appNames, key)
		}
	}
	return exp
}
