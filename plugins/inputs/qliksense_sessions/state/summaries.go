package state

import (
	"slices"
	"strings"
)

// Summary is who is active, on one server or on the whole site.
type Summary struct {
	Server            string // empty for the site
	App               string // the app id, in summaries of apps
	ActiveUsers       int
	ActiveSessions    int      // of the site or server
	ActiveConnections int      // to the app
	Users             []string // DIR\userid as first seen, in case-insensitive order
	Usage                      // of the site and servers, with TakeUsage (usage.go)
}

// Snapshot summarises the site and each server with open sessions, plus a
// final zero for each server whose last user left since the previous
// Snapshot. Servers come in case-insensitive order of their names.
func (s *State) Snapshot() (site Summary, servers []Summary) {
	return s.Summarise(s.TakeChanges())
}

// Changes is what a summary needs of the state: the counts, and who joined
// or left each user list since the previous TakeChanges.
type Changes struct {
	site      Summary // without Users
	siteNames listChanges
	servers   []serverChanges
	apps      []serverChanges
	// changedOnly: summarise only the servers and apps whose counts or
	// users changed since the previous summary (see ChangedOnly).
	changedOnly bool
}

// ChangedOnly returns the changes for a summary of what changed: the site,
// and only the servers and apps whose counts or user lists (or, with
// AddUsage, a server's sessions per user) changed since
// the previous summary, or since the previous summary of what changed (a
// consumer may take only those), their final zeros included. A summary of
// all the changes (those TakeChanges returns) holds every server and app.
func (c Changes) ChangedOnly() Changes {
	c.changedOnly = true
	return c
}

type serverChanges struct {
	key     string
	summary Summary // without Users
	names   listChanges
	final   bool // the server's last user left: a zero, then it is forgotten
	// a server's users at the session limit, with AddUsage (usage.go), and
	// whether that list changed
	atLimit      *sortedNames
	usageChanged bool
}

// summaryLists are the lists Summarise keeps between summaries.
type summaryLists struct {
	site    sortedNames
	servers map[string]*summarised // by server key
	apps    map[string]*summarised // by app key
	keyed   []keyedSummary         // summariseGroups' room to sort in, kept for the next
	// the users at the session limit (usage.go)
	siteAtLimit    sortedNames
	serversAtLimit map[string]*sortedNames // by server key
}

// summarised is a server's or app's last summary: its user list, and the
// rest (without Users), to tell whether it changed since; pending: it
// changed since the last summary of what changed (or never was in one).
type summarised struct {
	names   sortedNames
	last    Summary
	pending bool
}

// TakeChanges is Snapshot's first half, for a caller whose lock on the
// State holds up the intake: it only hands over what changed, so it is
// cheap. Summarise, the expensive half, then needs no lock against the
// other methods; its calls must not overlap, and each Changes must reach
// it, in the order taken.
func (s *State) TakeChanges() Changes {
	c := Changes{
		site: Summary{ActiveUsers: len(s.users), ActiveSessions: s.sessions},
		siteNames: s.names.take(func(yield func(key, name string)) {
			for key, u := range s.users {
				yield(key, u.name)
			}
		}),
		servers: make([]serverChanges, 0, len(s.servers)+len(s.emptied)),
	}
	for key, srv := range s.servers {
		c.servers = append(c.servers, serverChanges{
			key:     key,
			summary: Summary{Server: srv.name, ActiveUsers: len(srv.users), ActiveSessions: srv.sessions},
			names: srv.names.take(func(yield func(key, name string)) {
				for key, us := range srv.users {
					yield(key, us.user.name)
				}
			}),
		})
	}
	for key, srv := range s.emptied {
		c.servers = append(c.servers, serverChanges{key: key, summary: Summary{Server: srv.name}, final: true})
		delete(s.emptied, key)
	}
	c.apps = make([]serverChanges, 0, len(s.apps)+len(s.emptiedApps))
	for key, a := range s.apps {
		c.apps = append(c.apps, serverChanges{
			key:     key,
			summary: Summary{App: a.id, ActiveUsers: len(a.users), ActiveConnections: a.connections},
			names: a.names.take(func(yield func(key, name string)) {
				for key, u := range a.users {
					yield(key, u.user.name)
				}
			}),
		})
	}
	for key, a := range s.emptiedApps {
		c.apps = append(c.apps, serverChanges{key: key, summary: Summary{App: a.id}, final: true})
		delete(s.emptiedApps, key)
	}
	return c
}

// Summarise is Snapshot's second half: it merges the changes into the
// lists of the previous summaries and returns the new summaries.
func (s *State) Summarise(c Changes) (site Summary, servers []Summary) {
	lists := &s.lists
	if lists.servers == nil {
		lists.servers = make(map[string]*summarised)
	}
	lists.site.merge(c.siteNames)
	site = c.site
	site.Users = lists.site.copyNames()
	servers = lists.summariseGroups(c.servers, lists.servers, c.changedOnly)
	return site, servers
}

// SummariseApps summarises each app with open connections, plus a final
// zero for each app whose last user left since the previous summary, in
// case-insensitive order of their ids. Call it after Summarise, with the
// same Changes.
func (s *State) SummariseApps(c Changes) []Summary {
	if s.lists.apps == nil {
		s.lists.apps = make(map[string]*summarised)
	}
	return s.lists.summariseGroups(c.apps, s.lists.apps, c.changedOnly)
}

// summariseGroups merges the changes of servers or apps into their kept
// lists and returns their summaries: all of them or, with changedOnly, the
// final zeros and those that changed since the previous summary of what
// changed (new ones too): a summary of everything in between does not hide
// a change from a consumer that takes only the summaries of what changed.
//
// They come in case-insensitive order of their names: in order of their
// keys, the names case-folded (foldCase, as strings.ToLower folds them),
// which are unique.
func (l *summaryLists) summariseGroups(changes []serverChanges, lists map[string]*summarised, changedOnly bool) []Summary {
	keyed := l.keyed[:0]
	for _, sc := range changes {
		summary := sc.summary
		if sc.final {
			delete(lists, sc.key)
			summary.Users = make([]string, 0)
			if sc.atLimit != nil {
				summary.AtLimit = make([]string, 0)
			}
			keyed = append(keyed, keyedSummary{sc.key, summary})
			continue
		}
		kept := lists[sc.key]
		if kept == nil {
			kept = &summarised{pending: true}
			lists[sc.key] = kept
		}
		if kept.names.merge(sc.names) || !sameCounts(kept.last, summary) || sc.usageChanged {
			kept.pending = true
		}
		kept.last = summary
		if kept.pending || !changedOnly {
			summary.Users = kept.names.copyNames()
			if sc.atLimit != nil {
				summary.AtLimit = sc.atLimit.copyNames()
			}
			keyed = append(keyed, keyedSummary{sc.key, summary})
		}
		if changedOnly {
			kept.pending = false
		}
	}
	slices.SortFunc(keyed, func(a, b keyedSummary) int { return strings.Compare(a.key, b.key) })
	out := make([]Summary, len(keyed))
	for i := range keyed {
		out[i] = keyed[i].summary
	}
	clear(keyed) // keeps no user lists
	l.keyed = keyed[:0]
	return out
}

// keyedSummary is a summary with its server's or app's key, to sort by.
type keyedSummary struct {
	key     string
	summary Summary
}

// sameCounts tells whether two summaries of a server or app name it alike
// and count alike (their Users aside), sessions per user included (their
// AtLimit and LastEvent aside: see AddUsage).
func sameCounts(a, b Summary) bool {
	return a.Server == b.Server && a.App == b.App && a.ActiveUsers == b.ActiveUsers &&
		a.ActiveSessions == b.ActiveSessions && a.ActiveConnections == b.ActiveConnections &&
		a.MaxSessionsPerUser == b.MaxSessionsPerUser && a.UsersAtLimit == b.UsersAtLimit
}
