package state

import "time"

// Sessions per user and each server's last event, for the summaries.
//
// The counts are kept as the sessions change (addTo and remove call
// sessionsMoved), so that an event costs a few array updates whatever the
// site's size, and a summary reads them; the list of users at the limit is
// kept like the user lists (a changeLog handed over under the lock, merged
// into sorted names outside it).

// Usage is what a site's or a server's summary says about sessions per user
// and, for a server, its last event.
type Usage struct {
	// MaxSessionsPerUser is the most open sessions one user has: across
	// servers for the site, on that server for a server.
	MaxSessionsPerUser int
	// UsersAtLimit are the users with Config.SessionLimit or more open
	// sessions (zero without a limit), AtLimit their names as in Users.
	UsersAtLimit int
	AtLimit      []string
	// LastEvent is when the server's last applied event happened (the
	// event's time as given to Apply); zero for the site, and for a server
	// with no event since the state was made.
	LastEvent time.Time
}

// spreadSmall: the counts of users with fewer sessions than this are kept
// in an array; larger counts, rare, in a map.
const spreadSmall = 16

// sessionSpread counts a site's or a server's users by their number of
// open sessions.
type sessionSpread struct {
	small   [spreadSmall]int // small[k]: users with k sessions (small[0] unused)
	large   map[int]int      // users with k >= spreadSmall sessions; no zero entries
	max     int              // the most sessions of one user
	atLimit int              // users with Config.SessionLimit or more sessions
	names   changeLog        // of the users at the limit, for summaries
}

func (sp *sessionSpread) add(k, d int) {
	switch {
	case k <= 0:
	case k < spreadSmall:
		sp.small[k] += d
	default:
		if sp.large == nil {
			sp.large = make(map[int]int)
		}
		if n := sp.large[k] + d; n > 0 {
			sp.large[k] = n
		} else {
			delete(sp.large, k)
		}
	}
}

func (sp *sessionSpread) has(k int) bool {
	if k < spreadSmall {
		return sp.small[k] > 0
	}
	return sp.large[k] > 0
}

// move takes a user from one count of sessions to another; key and name
// are theirs, for the list of users at the limit (limit 0: none).
func (sp *sessionSpread) move(from, to, limit int, key, name string) {
	sp.add(from, -1)
	sp.add(to, 1)
	switch {
	case to > sp.max:
		sp.max = to
	case from == sp.max && !sp.has(from):
		sp.max = sp.below(from)
	}
	if limit > 0 && (from >= limit) != (to >= limit) {
		if to >= limit {
			sp.atLimit++
			sp.names.add(key, name, sp.atLimit)
		} else {
			sp.atLimit--
			sp.names.remove(key, sp.atLimit)
		}
	}
}

// below is the largest count under k that some user has; 0 if none.
func (sp *sessionSpread) below(k int) int {
	if k > spreadSmall {
		best := 0
		for n := range sp.large {
			if n < k && n > best {
				best = n
			}
		}
		if best > 0 {
			return best
		}
		k = spreadSmall
	}
	for n := k - 1; n > 0; n-- {
		if sp.small[n] > 0 {
			return n
		}
	}
	return 0
}

// sessionsMoved notes that us's sessions, and its user's, changed by d.
func (s *State) sessionsMoved(us *userOnServer, d int) {
	limit, u := s.cfg.SessionLimit, us.user
	us.server.spread.move(us.sessions-d, us.sessions, limit, u.key, u.name)
	s.spread.move(u.sessions-d, u.sessions, limit, u.key, u.name)
}

// noteEvent records that an event for srv happened at.
func (srv *server) noteEvent(at time.Time) {
	if at.After(srv.lastEvent) {
		srv.lastEvent = at
	}
}

// UsageChanges is what the usage summaries need of the state, taken with
// TakeUsage under the caller's lock; AddUsage uses it outside.
type UsageChanges struct {
	site    usageChange
	servers map[string]usageChange // by the server's name as in its Summary
}

type usageChange struct {
	key   string // the server's key
	usage Usage  // without AtLimit
	names listChanges
	final bool // the server's last user left: its list is forgotten
}

// TakeUsage hands over the sessions per user and the servers' last events.
// Call it before TakeChanges, under the same lock, so that it sees the
// servers whose last user left.
func (s *State) TakeUsage() UsageChanges {
	limit := s.cfg.SessionLimit
	c := UsageChanges{
		site: usageChange{
			usage: Usage{MaxSessionsPerUser: s.spread.max, UsersAtLimit: s.spread.atLimit},
			names: s.spread.names.take(func(yield func(key, name string)) {
				for key, u := range s.users {
					if limit > 0 && u.sessions >= limit {
						yield(key, u.name)
					}
				}
			}),
		},
		servers: make(map[string]usageChange, len(s.servers)+len(s.emptied)),
	}
	for key, srv := range s.servers {
		c.servers[srv.name] = usageChange{
			key:   key,
			usage: Usage{MaxSessionsPerUser: srv.spread.max, UsersAtLimit: srv.spread.atLimit, LastEvent: srv.lastEvent},
			names: srv.spread.names.take(func(yield func(key, name string)) {
				for key, us := range srv.users {
					if limit > 0 && us.sessions >= limit {
						yield(key, us.user.name)
					}
				}
			}),
		}
	}
	for key, srv := range s.emptied {
		srv.spread.names = changeLog{}
		c.servers[srv.name] = usageChange{key: key, usage: Usage{LastEvent: srv.lastEvent}, final: true}
	}
	return c
}

// AddUsage merges the lists of users at the limit and puts the usage into
// c, for Summarise: the site's, and each server's that u knows. In a
// summary of what changed (ChangedOnly), a server whose usage changed
// counts as changed, as when its counts or users did: its
// MaxSessionsPerUser, UsersAtLimit or AtLimit (a consumer keeping the last
// value sees the current one); its LastEvent does not (a gather-time
// figure, which moves every second). Its calls must not overlap, and each
// UsageChanges must reach it, in the order taken, with the Changes taken
// with it.
func (s *State) AddUsage(c Changes, u UsageChanges) Changes {
	lists := &s.lists
	if lists.serversAtLimit == nil {
		lists.serversAtLimit = make(map[string]*sortedNames)
	}
	lists.siteAtLimit.merge(u.site.names)
	c.site.Usage = u.site.usage
	c.site.AtLimit = lists.siteAtLimit.copyNames()
	for i := range c.servers {
		sc := &c.servers[i]
		uc, ok := u.servers[sc.summary.Server]
		if !ok {
			continue
		}
		sc.summary.Usage = uc.usage
		if uc.final {
			delete(lists.serversAtLimit, uc.key)
			sc.atLimit = &sortedNames{} // none left: an empty list
			continue
		}
		list := lists.serversAtLimit[uc.key]
		if list == nil {
			list = &sortedNames{}
			lists.serversAtLimit[uc.key] = list
		}
		sc.usageChanged = list.merge(uc.names)
		sc.atLimit = list
	}
	return c
}

// UsageSnapshot is Snapshot with the summaries' Usage.
func (s *State) UsageSnapshot() (site Summary, servers []Summary) {
	usage := s.TakeUsage()
	return s.Summarise(s.AddUsage(s.TakeChanges(), usage))
}
