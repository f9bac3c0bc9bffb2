package state

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

func TestUsageSessionsPerUser(t *testing.T) {
	s := New(Config{SessionLimit: 3})
	starts := func(server, user string, n int) {
		for range n {
			apply(s, server, event.StartSession, "LAB", user, t0)
		}
	}
	starts("SENSE1", "anna", 2)
	starts("SENSE2", "anna", 1)
	starts("SENSE1", "bob", 1)
	starts("SENSE2", "carl", 3)

	site, servers := s.UsageSnapshot()
	require.Equal(t, Usage{MaxSessionsPerUser: 3, UsersAtLimit: 2, AtLimit: []string{`LAB\anna`, `LAB\carl`}}, site.Usage,
		"anna has 3 sessions across the servers, carl 3 on one")
	require.Len(t, servers, 2)
	require.Equal(t, Usage{MaxSessionsPerUser: 2, AtLimit: users(), LastEvent: t0}, servers[0].Usage, "SENSE1: anna's 2 are under the limit")
	require.Equal(t, Usage{MaxSessionsPerUser: 3, UsersAtLimit: 1, AtLimit: []string{`LAB\carl`}, LastEvent: t0}, servers[1].Usage)

	// anna drops under the limit, carl stays; bob goes to 20 sessions on
	// SENSE1 (beyond the counts kept in the array) and back down.
	apply(s, "SENSE2", event.StopSession, "LAB", "anna", t0)
	starts("SENSE1", "bob", 19)
	site, servers = s.UsageSnapshot()
	require.Equal(t, Usage{MaxSessionsPerUser: 20, UsersAtLimit: 2, AtLimit: []string{`LAB\bob`, `LAB\carl`}}, site.Usage)
	require.Equal(t, Usage{MaxSessionsPerUser: 20, UsersAtLimit: 1, AtLimit: []string{`LAB\bob`}, LastEvent: t0}, servers[0].Usage)
	for range 18 {
		apply(s, "SENSE1", event.StopSession, "LAB", "bob", t0)
	}
	site, _ = s.UsageSnapshot()
	require.Equal(t, Usage{MaxSessionsPerUser: 3, UsersAtLimit: 1, AtLimit: []string{`LAB\carl`}}, site.Usage)

	// carl's sessions expire: SENSE2 gets its final zero, then is gone.
	apply(s, "SENSE1", event.OpenConnection, "LAB", "anna", t0.Add(time.Hour))
	apply(s, "SENSE1", event.OpenConnection, "LAB", "bob", t0.Add(time.Hour))
	require.Equal(t, 3, s.Expire(t0.Add(time.Minute)))
	site, servers = s.UsageSnapshot()
	require.Equal(t, Usage{MaxSessionsPerUser: 2, AtLimit: users()}, site.Usage)
	require.Len(t, servers, 2)
	require.Equal(t, Summary{Server: "SENSE2", Users: users(), Usage: Usage{AtLimit: users(), LastEvent: t0}}, servers[1], "the final zero")
	_, servers = s.UsageSnapshot()
	require.Len(t, servers, 1)
	require.Equal(t, t0.Add(time.Hour), servers[0].LastEvent)
}

func TestUsageWithoutLimit(t *testing.T) {
	s := New(Config{})
	for range 7 {
		apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	}
	site, servers := s.UsageSnapshot()
	require.Equal(t, Usage{MaxSessionsPerUser: 7, AtLimit: users()}, site.Usage)
	require.Equal(t, Usage{MaxSessionsPerUser: 7, AtLimit: users(), LastEvent: t0}, servers[0].Usage)
}

// TestUsageLastEvent: a server's last event is the latest event time
// applied to it, whatever the event did; an event for an unknown server
// makes none.
func TestUsageLastEvent(t *testing.T) {
	s := New(Config{})
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	apply(s, "SENSE2", event.StartSession, "LAB", "bob", t0)
	apply(s, "SENSE1", event.CloseConnection, "LAB", "carl", t0.Add(time.Minute)) // not a user of SENSE1: the server still spoke
	apply(s, "SENSE2", event.OpenConnection, "LAB", "bob", t0.Add(2*time.Minute))
	apply(s, "SENSE2", event.CloseConnection, "LAB", "bob", t0.Add(time.Minute)) // late: the last event stays
	apply(s, "SENSE3", event.StopSession, "LAB", "dora", t0.Add(3*time.Minute))  // no such server
	_, servers := s.UsageSnapshot()
	require.Len(t, servers, 2)
	require.Equal(t, t0.Add(time.Minute), servers[0].LastEvent)
	require.Equal(t, t0.Add(2*time.Minute), servers[1].LastEvent)
	// A Restore or the session API's answer is no event of the server.
	s.Restore([]Record{{Server: "SENSE4", Directory: "LAB", UserID: "eve", Sessions: 1, FirstSeen: t0, LastSeen: t0}})
	s.BeginReconcile("SENSE5")
	s.Reconcile("SENSE5", []APISession{{Directory: "LAB", UserID: "fred"}}, t0)
	_, servers = s.UsageSnapshot()
	require.Len(t, servers, 4)
	require.True(t, servers[2].LastEvent.IsZero())
	require.True(t, servers[3].LastEvent.IsZero())
}

// TestUsageRandomTraffic compares the usage with what the state's records
// say after random traffic (starts, stops, connections, expiries, large
// counts, a change log that overflows).
func TestUsageRandomTraffic(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			if seed >= 3 {
				limitChangeLog(t, 2)
			}
			rng := rand.New(rand.NewPCG(seed, 19))
			limit := 1 + int(seed)
			s := New(Config{SessionLimit: limit})
			at := t0
			for i := range 5000 {
				at = at.Add(time.Second)
				server := fmt.Sprintf("SENSE%d", rng.IntN(3))
				user := fmt.Sprintf("user%d", rng.IntN(12))
				cmd := []event.Command{event.StartSession, event.StartSession, event.StopSession, event.OpenConnection}[rng.IntN(4)]
				if (i/500)%2 == 1 && rng.IntN(3) == 0 {
					cmd = event.StopSession
				}
				n := 1
				if user == "user0" && cmd != event.OpenConnection {
					n = 1 + rng.IntN(20) // one user with large counts
				}
				for range n {
					apply(s, server, cmd, "LAB", user, at)
				}
				if rng.IntN(200) == 0 {
					s.Expire(at.Add(-time.Duration(rng.IntN(600)) * time.Second))
				}
				if rng.IntN(10) == 0 {
					checkUsage(t, s, limit, i)
				}
			}
		})
	}
}

// checkUsage compares a UsageSnapshot with the state's records.
func checkUsage(t *testing.T, s *State, limit, step int) {
	t.Helper()
	perServer := map[string]map[string]int{}
	perUser := map[string]int{}
	for _, r := range s.Records() {
		name := r.Directory + `\` + r.UserID
		if perServer[r.Server] == nil {
			perServer[r.Server] = map[string]int{}
		}
		perServer[r.Server][name] += r.Sessions
		perUser[name] += r.Sessions
	}
	want := func(sessions map[string]int, names []string) Usage {
		u := Usage{AtLimit: users()}
		for _, name := range names { // in the summary's order
			u.MaxSessionsPerUser = max(u.MaxSessionsPerUser, sessions[name])
			if sessions[name] >= limit {
				u.UsersAtLimit++
				u.AtLimit = append(u.AtLimit, name)
			}
		}
		return u
	}
	site, servers := s.UsageSnapshot()
	require.Equal(t, want(perUser, site.Users), site.Usage, "step %d", step)
	for _, srv := range servers {
		got := srv.Usage
		got.LastEvent = time.Time{}
		require.Equal(t, want(perServer[srv.Server], srv.Users), got, "step %d, %s", step, srv.Server)
	}
}

// usageChangedOnly is a summary of what changed with the usage.
func usageChangedOnly(s *State) (site Summary, servers []Summary) {
	usage := s.TakeUsage()
	return s.Summarise(s.AddUsage(s.TakeChanges().ChangedOnly(), usage))
}

// TestUsageChangedOnly: in a summary of what changed, a server whose
// sessions per user changed is a change though its counts and users are
// the same (a consumer keeping its last line sees the current
// max_sessions_per_user and users at the limit), whatever summary came in
// between; an event that changes only its LastEvent is not.
func TestUsageChangedOnly(t *testing.T) {
	s := New(Config{SessionLimit: 3})
	starts := func(server, user string, n int, at time.Time) {
		for range n {
			apply(s, server, event.StartSession, "LAB", user, at)
		}
	}
	starts("SENSE1", "anna", 3, t0)
	starts("SENSE1", "bob", 1, t0)
	starts("SENSE2", "carl", 1, t0)
	_, servers := usageChangedOnly(s)
	require.Len(t, servers, 2, "new servers are changes")

	// anna gives bob one of her sessions, as it were: SENSE1 has 4
	// sessions of the same 2 users, but its most sessions of one user are
	// 2 now, not 3, and nobody is at the limit.
	apply(s, "SENSE1", event.StopSession, "LAB", "anna", t0)
	starts("SENSE1", "bob", 1, t0)
	site, servers := usageChangedOnly(s)
	require.Equal(t, Usage{MaxSessionsPerUser: 2, AtLimit: users()}, site.Usage)
	require.Equal(t, []Summary{{Server: "SENSE1", ActiveUsers: 2, ActiveSessions: 4, Users: users(`LAB\anna`, `LAB\bob`),
		Usage: Usage{MaxSessionsPerUser: 2, AtLimit: users(), LastEvent: t0}}}, servers)

	// Who is at the limit changes, not how many nor the most sessions:
	// anna 3, bob 2, then anna 2, bob 3. A gather's summary in between
	// does not hide it from the next summary of what changed.
	starts("SENSE1", "anna", 1, t0)
	_, servers = usageChangedOnly(s)
	require.Equal(t, []string{`LAB\anna`}, servers[0].AtLimit)
	apply(s, "SENSE1", event.StopSession, "LAB", "anna", t0)
	starts("SENSE1", "bob", 1, t0)
	_, servers = s.UsageSnapshot() // every server
	require.Len(t, servers, 2)
	_, servers = usageChangedOnly(s)
	require.Equal(t, []Summary{{Server: "SENSE1", ActiveUsers: 2, ActiveSessions: 5, Users: users(`LAB\anna`, `LAB\bob`),
		Usage: Usage{MaxSessionsPerUser: 3, UsersAtLimit: 1, AtLimit: users(`LAB\bob`), LastEvent: t0}}}, servers)

	// Only a later event time: a stop of no session on SENSE2.
	apply(s, "SENSE2", event.StopSession, "LAB", "dora", t0.Add(time.Minute))
	_, servers = usageChangedOnly(s)
	require.Empty(t, servers, "a server's last event alone is no change")
	_, servers = s.UsageSnapshot()
	require.Equal(t, t0.Add(time.Minute), servers[1].LastEvent)
}

// TestUsageRefusedEventIsNoSignOfLife: an event refused for its session
// id's length (a sender making ids up) does not move its server's
// LastEvent; an applied one does.
func TestUsageRefusedEventIsNoSignOfLife(t *testing.T) {
	s := New(Config{})
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	ev := event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna",
		SessionID: strings.Repeat("x", MaxSessionIDLength+1)}
	require.Equal(t, RefusedSessionIDLength, s.Apply(&ev, t0.Add(time.Minute)))
	_, servers := s.UsageSnapshot()
	require.Equal(t, t0, servers[0].LastEvent)
	apply(s, "SENSE1", event.OpenConnection, "LAB", "anna", t0.Add(2*time.Minute))
	_, servers = s.UsageSnapshot()
	require.Equal(t, t0.Add(2*time.Minute), servers[0].LastEvent)
}
