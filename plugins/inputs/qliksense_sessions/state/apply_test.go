package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

const (
	start     = event.StartSession
	stop      = event.StopSession
	open      = event.OpenConnection
	closeConn = event.CloseConnection
)

type step struct {
	server string
	cmd    event.Command
	user   string // DIR\id
	want   Outcome
}

func run(t *testing.T, s *State, steps []step) {
	t.Helper()
	for i, st := range steps {
		dir, id, _ := strings.Cut(st.user, `\`)
		require.Equal(t, st.want, apply(s, st.server, st.cmd, dir, id, t0.Add(time.Duration(i)*time.Second)), "step %d: %+v", i, st)
	}
}

func TestApplyScenarios(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		site     Summary
		servers  []Summary
		counters Counters
	}{
		{
			name: "several sessions per user: the first stop keeps the user active",
			steps: []step{
				{"SENSE1", start, `LAB\anna`, Changed},
				{"SENSE1", start, `LAB\anna`, Changed},
				{"SENSE1", stop, `LAB\anna`, Changed},
			},
			site:    Summary{ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\anna`}},
			servers: []Summary{{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\anna`}}},
		},
		{
			name: "one user on several servers counts once on the site",
			steps: []step{
				{"SENSE1", start, `LAB\anna`, Changed},
				{"SENSE2", start, `LAB\anna`, Changed},
				{"SENSE2", start, `LAB\bob`, Changed},
			},
			site: Summary{ActiveUsers: 2, ActiveSessions: 3, Users: []string{`LAB\anna`, `LAB\bob`}},
			servers: []Summary{
				{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\anna`}},
				{Server: "SENSE2", ActiveUsers: 2, ActiveSessions: 2, Users: []string{`LAB\anna`, `LAB\bob`}},
			},
		},
		{
			name: "orphan and duplicate stops change nothing and never go below zero",
			steps: []step{
				{"SENSE1", stop, `LAB\ghost`, OrphanStop},
				{"SENSE1", start, `LAB\anna`, Changed},
				{"SENSE1", stop, `LAB\anna`, Changed},
				{"SENSE1", stop, `LAB\anna`, OrphanStop},
				{"SENSE2", stop, `LAB\anna`, OrphanStop},
				{"SENSE1", start, `LAB\anna`, Changed},
			},
			site:     Summary{ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\anna`}},
			servers:  []Summary{{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\anna`}}},
			counters: Counters{StopsWithoutStart: 3},
		},
		{
			name: "case-insensitive users and servers, shown as first seen",
			steps: []step{
				{"SENSE1", start, `LAB\Anna`, Changed},
				{"sense1", start, `lab\ANNA`, Changed},
				{"Sense1", stop, `Lab\anna`, Changed},
			},
			site:    Summary{ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\Anna`}},
			servers: []Summary{{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\Anna`}}},
		},
		{
			name: "non-ASCII names fold too",
			steps: []step{
				{"SENSE1", start, `LAB\Jörg`, Changed},
				{"SENSE1", stop, `lab\JÖRG`, Changed},
			},
			site:    Summary{Users: make([]string, 0)},
			servers: []Summary{{Server: "SENSE1", Users: make([]string, 0)}},
		},
		{
			name: "two admins in two directories are two users",
			steps: []step{
				{"SENSE1", start, `LAB\admin`, Changed},
				{"SENSE1", start, `CORP\admin`, Changed},
			},
			site:    Summary{ActiveUsers: 2, ActiveSessions: 2, Users: []string{`CORP\admin`, `LAB\admin`}},
			servers: []Summary{{Server: "SENSE1", ActiveUsers: 2, ActiveSessions: 2, Users: []string{`CORP\admin`, `LAB\admin`}}},
		},
		{
			name: "an open connection proves a session; more connections and closes change nothing",
			steps: []step{
				{"SENSE1", open, `LAB\early`, Changed},
				{"SENSE1", open, `LAB\early`, Unchanged},
				{"SENSE1", closeConn, `LAB\early`, Unchanged},
				{"SENSE1", closeConn, `LAB\nobody`, Unchanged},
				{"SENSE2", start, `LAB\bob`, Changed},
				{"SENSE2", open, `LAB\bob`, Unchanged},
			},
			site: Summary{ActiveUsers: 2, ActiveSessions: 2, Users: []string{`LAB\bob`, `LAB\early`}},
			servers: []Summary{
				{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\early`}},
				{Server: "SENSE2", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\bob`}},
			},
			counters: Counters{SessionsInferred: 1},
		},
		{
			name: "a server whose last user left gets one final zero",
			steps: []step{
				{"SENSE1", start, `LAB\anna`, Changed},
				{"SENSE2", start, `LAB\bob`, Changed},
				{"SENSE2", stop, `LAB\bob`, Changed},
			},
			site: Summary{ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\anna`}},
			servers: []Summary{
				{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\anna`}},
				{Server: "SENSE2", Users: make([]string, 0)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			run(t, s, tt.steps)
			site, servers := s.Snapshot()
			require.Equal(t, tt.site, site)
			require.Equal(t, tt.servers, servers)
			require.Equal(t, tt.counters, s.Counters())
		})
	}
}

func TestFinalZeroOnlyOnce(t *testing.T) {
	s := New(Config{})
	run(t, s, []step{{"SENSE2", start, `LAB\bob`, Changed}, {"SENSE2", stop, `LAB\bob`, Changed}})
	_, servers := s.Snapshot()
	require.Equal(t, []Summary{{Server: "SENSE2", Users: make([]string, 0)}}, servers)
	_, servers = s.Snapshot()
	require.Empty(t, servers)

	// Back before the summary: no zero, just the server.
	run(t, s, []step{{"SENSE2", start, `LAB\bob`, Changed}, {"SENSE2", stop, `LAB\bob`, Changed}, {"sense2", start, `LAB\carl`, Changed}})
	_, servers = s.Snapshot()
	require.Equal(t, []Summary{{Server: "SENSE2", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\carl`}}}, servers)
}

func TestApplyRewritesNamesToFirstSeen(t *testing.T) {
	s := New(Config{})
	run(t, s, []step{{"SENSE1", start, `LAB\Anna`, Changed}})
	ev := event.Event{Server: "sense1", Command: event.CloseConnection, Directory: "lab", UserID: "ANNA"}
	s.Apply(&ev, t0)
	require.Equal(t, event.Event{Server: "SENSE1", Command: event.CloseConnection, Directory: "LAB", UserID: "Anna"}, ev)
}

func TestApplyDoesNotAllocateForKnownUsers(t *testing.T) {
	s := New(Config{})
	run(t, s, []step{{"SENSE1", start, `LAB\anna`, Changed}})
	startEv := event.Event{Server: "sense1", Command: start, Directory: "lab", UserID: "anna"}
	stopEv := event.Event{Server: "sense1", Command: stop, Directory: "lab", UserID: "anna"}
	openEv := event.Event{Server: "SENSE1", Command: open, Directory: "LAB", UserID: "anna"}
	allocs := testing.AllocsPerRun(1000, func() {
		a, b, c := startEv, stopEv, openEv
		s.Apply(&a, t0)
		s.Apply(&c, t0)
		s.Apply(&b, t0)
	})
	require.Zero(t, allocs)
}

// TestAgainstReferenceModel applies random traffic and compares every
// summary with a plain model: counts per (server, user) in maps.
func TestAgainstReferenceModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := New(Config{})
	type key struct{ server, user string }
	model := map[key]int{}
	display := map[string]string{} // folded user -> shown name
	servers := []string{"SENSE1", "SENSE2", "SENSE3"}
	dirs := []string{"LAB", "CORP"}
	for i := 0; i < 20000; i++ {
		server := servers[rng.IntN(len(servers))]
		dir := dirs[rng.IntN(len(dirs))]
		id := fmt.Sprintf("u%d", rng.IntN(40))
		if rng.IntN(5) == 0 {
			dir = strings.ToLower(dir)
		}
		cmd := event.Command(1 + rng.IntN(4))
		k := key{strings.ToLower(server), strings.ToLower(dir + `\` + id)}
		userActive := func() bool {
			for mk, n := range model {
				if mk.user == k.user && n > 0 {
					return true
				}
			}
			return false
		}
		switch cmd {
		case start:
			if !userActive() {
				display[k.user] = dir + `\` + id
			}
			model[k]++
		case stop:
			if model[k] > 0 {
				model[k]--
			}
		case open:
			if model[k] == 0 {
				if !userActive() {
					display[k.user] = dir + `\` + id
				}
				model[k] = 1
			}
		}
		apply(s, server, cmd, dir, id, t0)

		if i%500 == 0 {
			site, perServer := s.Snapshot()
			wantUsers := map[string]bool{}
			sessions := 0
			for mk, n := range model {
				if n > 0 {
					wantUsers[display[mk.user]] = true
					sessions += n
				}
			}
			names := make([]string, 0, len(wantUsers))
			for n := range wantUsers {
				names = append(names, n)
			}
			slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
			require.Equal(t, len(names), site.ActiveUsers, "step %d", i)
			require.Equal(t, sessions, site.ActiveSessions, "step %d", i)
			require.Equal(t, names, site.Users, "step %d", i)
			for _, srv := range perServer {
				n := 0
				for mk, c := range model {
					if mk.server == strings.ToLower(srv.Server) { //nolint:gocritic // the model's keys are strings.ToLower'd: the same folding, not EqualFold's
						n += c
					}
				}
				require.Equal(t, n, srv.ActiveSessions, "step %d server %s", i, srv.Server)
			}
		}
	}
}

func BenchmarkApply(b *testing.B) {
	s := New(Config{})
	const users = 100_000
	events := make([]event.Event, 0, 4*users)
	for u := 0; u < users; u++ {
		id := fmt.Sprintf("user%06d", u)
		server := fmt.Sprintf("SENSE%d", u%10)
		ev := event.Event{Server: server, Command: start, Directory: "LAB", UserID: id}
		s.Apply(&ev, t0)
		for _, cmd := range []event.Command{start, open, closeConn, stop} {
			events = append(events, event.Event{Server: server, Command: cmd, Directory: "LAB", UserID: id})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := events[i%len(events)]
		s.Apply(&ev, t0)
	}
}

// BenchmarkSnapshot is the summaries of a site of 100,000 users on 10
// servers, whose records lie scattered in memory as they do after a day of
// logins in random order, with one login or logout ("login") or with 1,000
// logins and 1,000 logouts ("churn") since the previous summary. locked-µs
// is the part done under the caller's lock (TakeChanges).
func BenchmarkSnapshot(b *testing.B) {
	for _, bench := range []struct {
		name  string
		churn int
	}{{"login", 1}, {"churn", 1000}} {
		b.Run(bench.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			type pair struct{ server, id string }
			newPair := func() pair {
				return pair{fmt.Sprintf("SENSE%d", rng.IntN(10)), fmt.Sprintf("user%07d", rng.IntN(10_000_000))}
			}
			s := New(Config{})
			active := make([]pair, 0, 100_000)
			for s.ActiveUsers() < 100_000 {
				p := newPair()
				ev := event.Event{Server: p.server, Command: start, Directory: "LAB", UserID: p.id}
				s.Apply(&ev, t0)
				active = append(active, p)
			}
			s.Snapshot()
			var locked time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for range bench.churn {
					k := rng.IntN(len(active))
					ev := event.Event{Server: active[k].server, Command: stop, Directory: "LAB", UserID: active[k].id}
					s.Apply(&ev, t0)
					active[k] = newPair()
					ev = event.Event{Server: active[k].server, Command: start, Directory: "LAB", UserID: active[k].id}
					s.Apply(&ev, t0)
				}
				b.StartTimer()
				taken := time.Now()
				changes := s.TakeChanges()
				locked += time.Since(taken)
				s.Summarise(changes)
			}
			b.ReportMetric(float64(locked.Microseconds())/float64(b.N), "locked-µs/op")
		})
	}
}
