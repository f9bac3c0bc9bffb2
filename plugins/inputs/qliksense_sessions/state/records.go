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
	var out []AppConnections //nolint:prealloc // nil, not an empty list, when there are none
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
					if len(r.Known) == us.sessions {
						// Phantoms with no unsure record (a Stop named an id
						// not known): Restore would drop the rest.
						break
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
// skipped and counted in the result; a record's sessions beyond
// Config.MaxUserSessions are dropped. A known session beyond the
// record's count, known twice, or with an id over MaxSessionIDLength, is
// dropped (its session counts without it).
func (s *State) Restore(records []Record) (skipped int) {
	for _, r := range records {
		if r.Server == "" || r.Directory == "" || r.UserID == "" || r.Sessions <= 0 {
			skipped++
			continue
		}
		_, existed := s.lookup(r.Server, r.Directory, r.UserID)
		us, _ := s.add(r.Server, r.Directory, r.UserID, r.Sessions, r.FirstSeen, r.LastSeen)
		if us == nil {
			skipped++
			continue
		}
		if existed == nil {
			us.startSeen = r.StartSeen
		}
		for _, k := range r.Known {
			if k.ID == "" || len(k.ID) > MaxSessionIDLength || us.detail.find(k.ID) >= 0 || us.detail != nil && len(us.detail.known) >= us.sessions {
				continue
			}
			d := us.details()
			d.addKnown(knownSession{id: k.ID, started: k.Started, connections: max(k.Connections, 0)})
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
