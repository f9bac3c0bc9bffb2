package state

import (
	"slices"
	"strings"
	"time"
)

// Record is one user's open sessions on one server: what the state file
// keeps across restarts.
type Record struct {
	Server    string    `json:"server"`
	Directory string    `json:"directory"`
	UserID    string    `json:"user_id"`
	Sessions  int       `json:"sessions"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Generation changes whenever the state does (an event, a restore, an
// expiry, a reconciliation), so a saver can tell whether it is dirty.
func (s *State) Generation() uint64 { return s.generation }

// Records lists every user's open sessions per server, in a stable order.
func (s *State) Records() []Record {
	records := make([]Record, 0, s.UserServerPairs())
	for _, srv := range s.servers {
		for _, us := range srv.users {
			records = append(records, Record{
				Server:    srv.name,
				Directory: us.user.directory,
				UserID:    us.user.id,
				Sessions:  us.sessions,
				FirstSeen: us.firstSeen,
				LastSeen:  us.lastSeen,
			})
		}
	}
	slices.SortFunc(records, func(a, b Record) int {
		if c := strings.Compare(strings.ToLower(a.Server), strings.ToLower(b.Server)); c != 0 {
			return c
		}
		return strings.Compare(strings.ToLower(a.Directory+`\`+a.UserID), strings.ToLower(b.Directory+`\`+b.UserID))
	})
	return records
}

// Restore adds saved sessions to the state; records without a server, a
// user or a positive session count are skipped and counted in the result.
func (s *State) Restore(records []Record) (skipped int) {
	for _, r := range records {
		if r.Server == "" || r.Directory == "" || r.UserID == "" || r.Sessions <= 0 {
			skipped++
			continue
		}
		s.add(r.Server, r.Directory, r.UserID, r.Sessions, r.FirstSeen, r.LastSeen)
	}
	s.generation++
	return skipped
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

// APISession is one session in a proxy session API answer.
type APISession struct {
	Directory string
	UserID    string
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
// answer, which was requested after BeginReconcile. Users who saw events in
// between keep the counts the events gave them: the answer may predate or
// postdate those events, and the events are certainly newer than the state.
// It ends the noting that BeginReconcile started.
func (s *State) Reconcile(serverName string, answer []APISession, now time.Time) (added, removed int) {
	srvKey := string(foldCase(nil, serverName))
	touched := s.reconciling[srvKey]
	delete(s.reconciling, srvKey)

	// Count the API's sessions per user.
	type apiUser struct {
		directory, id string
		sessions      int
	}
	want := make(map[string]*apiUser, len(answer))
	for _, a := range answer {
		if a.Directory == "" || a.UserID == "" {
			continue
		}
		key := string(foldCase(foldCase(nil, a.Directory), `\`+a.UserID))
		if u := want[key]; u != nil {
			u.sessions++
		} else {
			want[key] = &apiUser{directory: a.Directory, id: a.UserID, sessions: 1}
		}
	}

	if srv := s.servers[srvKey]; srv != nil {
		for key, us := range srv.users {
			if _, seen := touched[key]; seen {
				continue
			}
			target := 0
			if u := want[key]; u != nil {
				target = u.sessions
				us.lastSeen = now
			}
			switch {
			case target > us.sessions:
				added += target - us.sessions
				s.add(serverName, us.user.directory, us.user.id, target-us.sessions, now, now)
			case target < us.sessions:
				removed += us.sessions - target
				s.remove(srv, us, us.sessions-target)
			}
		}
	}
	for key, u := range want {
		if _, seen := touched[key]; seen {
			continue
		}
		if _, us := s.lookup(serverName, u.directory, u.id); us != nil {
			continue // reconciled above
		}
		added += u.sessions
		s.add(serverName, u.directory, u.id, u.sessions, now, now)
	}
	s.counters.ReconcileAdded += uint64(added)
	s.counters.ReconcileRemoved += uint64(removed)
	s.generation++
	return added, removed
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
