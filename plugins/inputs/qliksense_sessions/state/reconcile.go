package state

import "time"

// Another source's word on a server replaces the events': it says all the
// server's sessions again (DropServer), or the proxy session API answers
// (Reconcile).

// DropServer forgets every session of a server and returns how many there
// were: another source is to say them all again.
func (s *State) DropServer(serverName string) (sessions int) {
	srv := s.servers[s.serverKey(serverName)]
	if srv == nil {
		return 0
	}
	for _, us := range srv.users {
		sessions += us.sessions
		s.remove(srv, us, us.sessions)
	}
	s.generation++
	return sessions
}

// APISession is one session in a proxy session API answer. Its SessionId
// is left out: Qlik logs proxy session ids as salted hashes, so the API's
// ids cannot be matched with those of the log files and connection events.
type APISession struct {
	Directory string
	UserID    string
	// Sessions is how many sessions of the user this entry stands for: an
	// answer folded per user has one entry per user. 0 counts as 1.
	Sessions int
}

// BeginReconcile starts noting which users of a server see events, so that
// a reconciliation with an API answer taken meanwhile leaves them alone.
func (s *State) BeginReconcile(serverName string) {
	key := string(foldCase(nil, serverName))
	if s.reconciling == nil {
		s.reconciling = make(map[string]map[string]struct{})
	}
	s.reconciling[key] = make(map[string]struct{})
}

// Reconcile makes a server's sessions those of the proxy session API's
// answer, which was requested after BeginReconcile: each user's count. Users who saw events in between keep what the events
// gave them: the answer may predate or postdate those events, and the
// events are certainly newer than the state. It ends the noting that
// BeginReconcile started.
func (s *State) Reconcile(serverName string, answer []APISession, now time.Time) (added, removed int) {
	srvKey := string(foldCase(nil, serverName))
	touched := s.reconciling[srvKey]
	delete(s.reconciling, srvKey)

	// The API's sessions per user.
	type apiUser struct {
		directory, id string
		sessions      int
	}
	want := make(map[string]*apiUser, len(answer))
	var order []string // the answer's order, so that limits refuse alike each time
	for _, a := range answer {
		if a.Directory == "" || a.UserID == "" {
			continue
		}
		key := string(foldCase(foldCase(nil, a.Directory), `\`+a.UserID))
		u := want[key]
		if u == nil {
			u = &apiUser{directory: a.Directory, id: a.UserID}
			want[key] = u
			order = append(order, key)
		}
		u.sessions += max(a.Sessions, 1)
	}

	if srv := s.servers[srvKey]; srv != nil {
		for key, us := range srv.users {
			if _, seen := touched[key]; seen {
				continue
			}
			u := want[key]
			if u == nil {
				removed += us.sessions
				s.remove(srv, us, us.sessions)
				continue
			}
			us.lastSeen = now
			switch {
			case u.sessions > us.sessions:
				had := us.sessions
				s.addTo(srv, us, serverName, us.user.directory, us.user.id, u.sessions-us.sessions, now, now)
				added += us.sessions - had
			case u.sessions < us.sessions:
				removed += us.sessions - u.sessions
				s.remove(srv, us, us.sessions-u.sessions)
				forgetExtraIDs(us)
			}
		}
	}
	for _, key := range order {
		u := want[key]
		if _, seen := touched[key]; seen {
			continue
		}
		if _, us := s.lookup(serverName, u.directory, u.id); us != nil {
			continue // reconciled above
		}
		// A user the limits refuse counts as the API's, not as an event's.
		before := s.counters
		us, outcome := s.add(serverName, u.directory, u.id, u.sessions, now, now)
		if us != nil {
			added += us.sessions
			continue
		}
		if outcome != Refused {
			continue // no room under max_user_sessions, counted as such
		}
		if s.counters.RefusedMaxServers > before.RefusedMaxServers {
			s.counters.APIRefusedMaxServers += uint64(u.sessions)
		} else {
			s.counters.APIRefusedMaxUsers += uint64(u.sessions)
		}
		s.counters.RefusedMaxUsers, s.counters.RefusedMaxServers = before.RefusedMaxUsers, before.RefusedMaxServers
	}
	s.counters.ReconcileAdded += uint64(added)
	s.counters.ReconcileRemoved += uint64(removed)
	s.generation++
	return added, removed
}

// forgetExtraIDs keeps a pair's known sessions within its count after the
// API closed some: which ones ended is not known, so those left are unsure
// (see sessions.go).
func forgetExtraIDs(us *userOnServer) {
	d := us.detail
	if d == nil {
		return
	}
	d.awaiting = 0
	d.keepKnown(us.sessions)
	for i := range d.known {
		d.setUnsure(i, true)
		d.known[i].awaiting = time.Time{}
	}
}

// noteEvent records that a user saw an event while its server is being
// reconciled.
func (s *State) noteEvent(serverName, directory, userID string) {
	touched := s.reconciling[s.serverKey(serverName)]
	if touched == nil {
		return
	}
	touched[string(foldCase(foldCase(nil, directory), `\`+userID))] = struct{}{}
}

// CancelReconcile ends the noting that BeginReconcile started, for a
// reconciliation that failed.
func (s *State) CancelReconcile(serverName string) {
	delete(s.reconciling, string(foldCase(nil, serverName)))
}
