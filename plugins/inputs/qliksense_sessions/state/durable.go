package state

import (
	"slices"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
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
	// StartSeen: FirstSeen is when the first session's Start came.
	StartSeen bool `json:"start_seen,omitempty"`
	// Known are those of the sessions whose proxy session id is known.
	Known []KnownSession `json:"known,omitempty"`
	// Apps are the open connections to apps that no session id names.
	Apps []AppConnections `json:"apps,omitempty"`
}

// KnownSession is a session known by its proxy session id.
type KnownSession struct {
	ID          string           `json:"id"`
	Started     time.Time        `json:"started,omitzero"` // when its Start came, if it was seen
	Connections int              `json:"connections,omitempty"`
	Apps        []AppConnections `json:"apps,omitempty"` // those of its connections that are to apps
}

// AppConnections are open connections to one app.
type AppConnections struct {
	App         string `json:"app"`
	Connections int    `json:"connections"`
}

func appConnectionsOf(conns []appConnections) []AppConnections {
	var out []AppConnections
	for _, c := range conns {
		out = append(out, AppConnections{App: c.app.id, Connections: c.n})
	}
	return out
}

// Generation changes whenever the state does (an event, a restore, an
// expiry, a reconciliation), so a saver can tell whether it is dirty.
func (s *State) Generation() uint64 { return s.generation }

// Records lists every user's open sessions per server, in a stable order.
func (s *State) Records() []Record {
	records := make([]Record, 0, s.UserServerPairs())
	for _, srv := range s.servers {
		for _, us := range srv.users {
			r := Record{
				Server:    srv.name,
				Directory: us.user.directory,
				UserID:    us.user.id,
				Sessions:  us.sessions,
				FirstSeen: us.firstSeen,
				LastSeen:  us.lastSeen,
				StartSeen: us.startSeen,
			}
			if d := us.detail; d != nil {
				phantoms := d.phantoms
				for _, k := range d.known {
					if phantoms > 0 && k.unsure {
						phantoms-- // one that ended: which is not known
						continue
					}
					r.Known = append(r.Known, KnownSession{ID: k.id, Started: k.started, Connections: k.connections, Apps: appConnectionsOf(k.apps)})
				}
				r.Apps = appConnectionsOf(d.anonymousApps)
			}
			records = append(records, r)
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
// user or a positive session count, and those the limits refuse, are
// skipped and counted in the result. A known session beyond the record's
// count, or known twice, is dropped.
func (s *State) Restore(records []Record) (skipped int) {
	for _, r := range records {
		if r.Server == "" || r.Directory == "" || r.UserID == "" || r.Sessions <= 0 {
			skipped++
			continue
		}
		_, existed := s.lookup(r.Server, r.Directory, r.UserID)
		us := s.add(r.Server, r.Directory, r.UserID, r.Sessions, r.FirstSeen, r.LastSeen)
		if us == nil {
			skipped++
			continue
		}
		if existed == nil {
			us.startSeen = r.StartSeen
		}
		for _, k := range r.Known {
			if k.ID == "" || us.detail.find(k.ID) >= 0 || us.detail != nil && len(us.detail.known) >= us.sessions {
				continue
			}
			d := us.details()
			d.known = append(d.known, knownSession{id: k.ID, started: k.Started, connections: max(k.Connections, 0)})
			s.restoreApps(us, &d.known[len(d.known)-1].apps, k.Apps)
		}
		if len(r.Apps) > 0 {
			s.restoreApps(us, &us.details().anonymousApps, r.Apps)
		}
	}
	s.generation++
	return skipped
}

// restoreApps counts saved connections to apps.
func (s *State) restoreApps(us *userOnServer, conns *[]appConnections, saved []AppConnections) {
	for _, a := range saved {
		if !event.IsGUID(a.App) {
			continue
		}
		for range min(max(a.Connections, 0), maxRestoredConnections) {
			s.countApp(us, conns, a.App)
		}
	}
}

// maxRestoredConnections bounds what one saved entry can make the state
// count.
const maxRestoredConnections = 10_000

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
		u.sessions++
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
				added += u.sessions - us.sessions
				s.addTo(srv, us, serverName, us.user.directory, us.user.id, u.sessions-us.sessions, now, now)
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
		if s.add(serverName, u.directory, u.id, u.sessions, now, now) != nil {
			added += u.sessions
		}
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
	if len(d.known) > us.sessions {
		d.known = d.known[:us.sessions]
	}
	for i := range d.known {
		d.known[i].unsure = true
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
