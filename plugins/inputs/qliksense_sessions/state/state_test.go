package state

// These tests complement apply_test.go (TestApplyScenarios,
// TestFinalZeroOnlyOnce, TestAgainstReferenceModel, BenchmarkApply,
// BenchmarkSnapshot, ...): stories with a Snapshot after each chapter,
// non-ASCII names, the state's independence from the events' buffers, and a
// randomized comparison of everything Apply and Snapshot report with an
// independent model.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// A story is events, each with the outcome it must have, and snapshots,
// each with the summaries it must give.
type (
	happens struct {
		server string
		cmd    event.Command
		user   string // DIR\id
		want   Outcome
	}
	summarises struct {
		site    Summary
		servers []Summary
	}
)

// users is a summary's user list; it keeps an empty list non-nil, as the
// users field must encode as [] and never as null.
func users(names ...string) []string {
	if names == nil {
		return make([]string, 0)
	}
	return names
}

func zero(server string) Summary { return Summary{Server: server, Users: users()} }

// onServer is a snapshot of a site whose active users are all on one server,
// with that many sessions there.
func onServer(server string, sessions int, names ...string) summarises {
	summary := Summary{ActiveUsers: len(names), ActiveSessions: sessions, Users: users(names...)}
	onIt := summary
	onIt.Server = server
	return summarises{site: summary, servers: []Summary{onIt}}
}

func TestStories(t *testing.T) {
	tests := []struct {
		name     string
		story    []any
		counters Counters
	}{
		{
			name: "a user with several sessions on one server stays until the last stop",
			story: []any{
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StopSession, `LAB\anna`, Changed},
				onServer("SENSE1", 2, `LAB\anna`),
				happens{"SENSE1", event.StopSession, `LAB\anna`, Changed},
				onServer("SENSE1", 1, `LAB\anna`),
				happens{"SENSE1", event.StopSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StopSession, `LAB\anna`, OrphanStop},
				summarises{site: Summary{Users: users()}, servers: []Summary{zero("SENSE1")}},
				summarises{site: Summary{Users: users()}},
			},
			counters: Counters{StopsWithoutStart: 1},
		},
		{
			name: "one user on several servers is one user on the site",
			story: []any{
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE2", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE3", event.OpenConnection, `LAB\anna`, Changed},
				happens{"SENSE2", event.StartSession, `LAB\anna`, Changed},
				summarises{
					site: Summary{ActiveUsers: 1, ActiveSessions: 4, Users: users(`LAB\anna`)},
					servers: []Summary{
						{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\anna`)},
						{Server: "SENSE2", ActiveUsers: 1, ActiveSessions: 2, Users: users(`LAB\anna`)},
						{Server: "SENSE3", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\anna`)},
					},
				},
				// Leaving one server leaves her active on the others.
				happens{"SENSE1", event.StopSession, `LAB\anna`, Changed},
				happens{"SENSE3", event.StopSession, `LAB\anna`, Changed},
				summarises{
					site:    Summary{ActiveUsers: 1, ActiveSessions: 2, Users: users(`LAB\anna`)},
					servers: []Summary{zero("SENSE1"), {Server: "SENSE2", ActiveUsers: 1, ActiveSessions: 2, Users: users(`LAB\anna`)}, zero("SENSE3")},
				},
				onServer("SENSE2", 2, `LAB\anna`),
			},
			counters: Counters{SessionsInferred: 1},
		},
		{
			name: "duplicate and orphan stops are counted and change nothing",
			story: []any{
				happens{"SENSE9", event.StopSession, `LAB\ghost`, OrphanStop}, // unknown server
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StopSession, `LAB\bob`, OrphanStop},  // known server, unknown user
				happens{"SENSE2", event.StopSession, `LAB\anna`, OrphanStop}, // known user, other server
				happens{"SENSE1", event.StopSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StopSession, `LAB\anna`, OrphanStop}, // duplicate
				happens{"sense1", event.StopSession, `lab\ANNA`, OrphanStop}, // duplicate, other case
				summarises{site: Summary{Users: users()}, servers: []Summary{zero("SENSE1")}},
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				onServer("SENSE1", 1, `LAB\anna`),
			},
			counters: Counters{StopsWithoutStart: 5},
		},
		{
			name: "users and servers compare case-insensitively and show as first seen",
			story: []any{
				happens{"SENSE1", event.StartSession, `LAB\Anna`, Changed},
				happens{"sense1", event.StartSession, `lab\ANNA`, Changed},
				happens{"Sense1", event.OpenConnection, `Lab\aNNa`, Unchanged},
				onServer("SENSE1", 2, `LAB\Anna`),
				happens{"sense1", event.StopSession, `lab\anna`, Changed},
				happens{"SENSE1", event.StopSession, `LAB\ANNA`, Changed},
				// Gone and back: the new first sighting names her.
				happens{"sense1", event.StartSession, `lab\anna`, Changed},
				onServer("SENSE1", 1, `lab\anna`),
			},
		},
		{
			name: "a server back after its final zero is named anew",
			story: []any{
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StopSession, `LAB\anna`, Changed},
				summarises{site: Summary{Users: users()}, servers: []Summary{zero("SENSE1")}},
				happens{"sense1", event.StartSession, `LAB\anna`, Changed},
				onServer("sense1", 1, `LAB\anna`),
			},
		},
		{
			name: "two admins in two directories are two users",
			story: []any{
				happens{"SENSE1", event.StartSession, `LAB\admin`, Changed},
				happens{"SENSE1", event.StartSession, `CORP\admin`, Changed},
				happens{"SENSE1", event.StartSession, `corp\Admin`, Changed},
				onServer("SENSE1", 3, `CORP\admin`, `LAB\admin`),
				happens{"SENSE1", event.StopSession, `LAB\admin`, Changed},
				onServer("SENSE1", 2, `CORP\admin`),
			},
		},
		{
			name: "an open connection infers a session only when none is known on that server",
			story: []any{
				happens{"SENSE1", event.OpenConnection, `LAB\early`, Changed},
				happens{"SENSE1", event.OpenConnection, `LAB\early`, Unchanged},
				happens{"sense1", event.OpenConnection, `lab\EARLY`, Unchanged},
				happens{"SENSE1", event.StartSession, `LAB\bob`, Changed},
				happens{"SENSE1", event.OpenConnection, `LAB\bob`, Unchanged},
				// A session on SENSE1 says nothing of SENSE2.
				happens{"SENSE2", event.OpenConnection, `LAB\bob`, Changed},
				summarises{
					site: Summary{ActiveUsers: 2, ActiveSessions: 3, Users: users(`LAB\bob`, `LAB\early`)},
					servers: []Summary{
						{Server: "SENSE1", ActiveUsers: 2, ActiveSessions: 2, Users: users(`LAB\bob`, `LAB\early`)},
						{Server: "SENSE2", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\bob`)},
					},
				},
				// An inferred session closes like any other.
				happens{"SENSE1", event.StopSession, `LAB\early`, Changed},
				happens{"SENSE2", event.StopSession, `LAB\bob`, Changed},
				summarises{
					site:    Summary{ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\bob`)},
					servers: []Summary{{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\bob`)}, zero("SENSE2")},
				},
			},
			counters: Counters{SessionsInferred: 2},
		},
		{
			name: "close connection changes nothing, known or not",
			story: []any{
				happens{"SENSE1", event.CloseConnection, `LAB\nobody`, Unchanged}, // unknown server
				summarises{site: Summary{Users: users()}},
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.CloseConnection, `LAB\anna`, Unchanged},
				happens{"SENSE1", event.CloseConnection, `LAB\anna`, Unchanged},
				happens{"SENSE1", event.CloseConnection, `LAB\bob`, Unchanged},
				happens{"SENSE2", event.CloseConnection, `LAB\anna`, Unchanged},
				onServer("SENSE1", 1, `LAB\anna`),
			},
		},
		{
			name: "final zeros come once, in server order, among the active servers",
			story: []any{
				happens{"bravo", event.StartSession, `LAB\b`, Changed},
				happens{"Alpha", event.StartSession, `LAB\a`, Changed},
				happens{"CHARLIE", event.StartSession, `LAB\c`, Changed},
				happens{"delta", event.StartSession, `LAB\d`, Changed},
				summarises{
					site: Summary{ActiveUsers: 4, ActiveSessions: 4, Users: users(`LAB\a`, `LAB\b`, `LAB\c`, `LAB\d`)},
					servers: []Summary{
						{Server: "Alpha", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\a`)},
						{Server: "bravo", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\b`)},
						{Server: "CHARLIE", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\c`)},
						{Server: "delta", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\d`)},
					},
				},
				happens{"BRAVO", event.StopSession, `LAB\b`, Changed},
				happens{"delta", event.StopSession, `lab\D`, Changed},
				summarises{
					site: Summary{ActiveUsers: 2, ActiveSessions: 2, Users: users(`LAB\a`, `LAB\c`)},
					servers: []Summary{
						{Server: "Alpha", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\a`)},
						zero("bravo"),
						{Server: "CHARLIE", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\c`)},
						zero("delta"),
					},
				},
				summarises{
					site: Summary{ActiveUsers: 2, ActiveSessions: 2, Users: users(`LAB\a`, `LAB\c`)},
					servers: []Summary{
						{Server: "Alpha", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\a`)},
						{Server: "CHARLIE", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\c`)},
					},
				},
				// Everyone leaves: every server gets its zero, then nothing.
				happens{"alpha", event.StopSession, `LAB\a`, Changed},
				happens{"charlie", event.StopSession, `LAB\c`, Changed},
				summarises{site: Summary{Users: users()}, servers: []Summary{zero("Alpha"), zero("CHARLIE")}},
				summarises{site: Summary{Users: users()}},
			},
		},
		{
			name: "a server emptied and refilled before the summary gets no zero",
			story: []any{
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				onServer("SENSE1", 1, `LAB\anna`),
				happens{"SENSE1", event.StopSession, `LAB\anna`, Changed},
				happens{"sense1", event.OpenConnection, `LAB\bob`, Changed},
				onServer("SENSE1", 1, `LAB\bob`),
			},
			counters: Counters{SessionsInferred: 1},
		},
		{
			name: "users sort case-insensitively, not by bytes",
			story: []any{
				happens{"SENSE1", event.StartSession, `lab\zoe`, Changed},
				happens{"SENSE1", event.StartSession, `LAB\Zed`, Changed},
				happens{"SENSE1", event.StartSession, `LAB\anna`, Changed},
				happens{"SENSE1", event.StartSession, `Lab\Bob`, Changed},
				happens{"SENSE2", event.StartSession, `corp\Yann`, Changed},
				happens{"SENSE2", event.StartSession, `CORP\xavier`, Changed},
				happens{"SENSE2", event.StartSession, `LAB\ZED`, Changed},
				summarises{
					site: Summary{ActiveUsers: 6, ActiveSessions: 7, Users: users(`CORP\xavier`, `corp\Yann`, `LAB\anna`, `Lab\Bob`, `LAB\Zed`, `lab\zoe`)},
					servers: []Summary{
						{Server: "SENSE1", ActiveUsers: 4, ActiveSessions: 4, Users: users(`LAB\anna`, `Lab\Bob`, `LAB\Zed`, `lab\zoe`)},
						{Server: "SENSE2", ActiveUsers: 3, ActiveSessions: 3, Users: users(`CORP\xavier`, `corp\Yann`, `LAB\Zed`)},
					},
				},
			},
		},
		{
			name: "non-ASCII names fold and sort",
			story: []any{
				happens{"ZÜRICH", event.StartSession, `LAB\Jörg`, Changed},
				happens{"zürich", event.StartSession, `lab\JÖRG`, Changed},
				happens{"Zürich", event.StartSession, `lab\joe`, Changed},
				happens{"ZÜRICH", event.StartSession, `ÅRHUS\Åsa`, Changed},
				happens{"zürich", event.OpenConnection, `århus\åSA`, Unchanged},
				happens{"ZÜRICH", event.StartSession, `ΑΘΗΝΑ\Σοφία`, Changed},
				happens{"zürich", event.StopSession, `αθηνα\σοφία`, Changed},
				happens{"ZÜRICH", event.StartSession, `MÜNCHEN\Jürgen.Weiß`, Changed},
				happens{"zürich", event.StartSession, `münchen\JÜRGEN.WEIß`, Changed},
				summarises{
					// å (U+00E5) sorts after every ASCII letter.
					site: Summary{ActiveUsers: 4, ActiveSessions: 6, Users: users(`lab\joe`, `LAB\Jörg`, `MÜNCHEN\Jürgen.Weiß`, `ÅRHUS\Åsa`)},
					servers: []Summary{
						{Server: "ZÜRICH", ActiveUsers: 4, ActiveSessions: 6, Users: users(`lab\joe`, `LAB\Jörg`, `MÜNCHEN\Jürgen.Weiß`, `ÅRHUS\Åsa`)},
					},
				},
				happens{"ZüRiCh", event.StopSession, `Lab\jÖrG`, Changed},
				happens{"ZÜRICH", event.StopSession, `LAB\JöRG`, Changed},
				happens{"ZÜRICH", event.StopSession, `LAB\JöRG`, OrphanStop},
				onServer("ZÜRICH", 4, `lab\joe`, `MÜNCHEN\Jürgen.Weiß`, `ÅRHUS\Åsa`),
			},
			counters: Counters{StopsWithoutStart: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			for i, beat := range tt.story {
				switch beat := beat.(type) {
				case happens:
					dir, id, ok := strings.Cut(beat.user, `\`)
					require.True(t, ok)
					ev := event.Event{Server: beat.server, Command: beat.cmd, Directory: dir, UserID: id}
					require.Equal(t, beat.want, s.Apply(&ev, t0), "beat %d: %+v", i, beat)
				case summarises:
					site, servers := s.Snapshot()
					require.Equal(t, beat.site, site, "beat %d", i)
					require.NotNil(t, site.Users, "beat %d: site users must encode as []", i)
					if len(beat.servers) == 0 {
						require.Empty(t, servers, "beat %d", i)
					} else {
						require.Equal(t, beat.servers, servers, "beat %d", i)
					}
					for _, srv := range servers {
						require.NotNil(t, srv.Users, "beat %d: %s users must encode as []", i, srv.Server)
					}
				default:
					t.Fatalf("beat %d: %T", i, beat)
				}
			}
			require.Equal(t, tt.counters, s.Counters())
		})
	}
}

func TestGauges(t *testing.T) {
	s := New(Config{})
	require.Zero(t, s.ActiveUsers())
	require.Zero(t, s.ActiveSessions())
	require.Zero(t, s.Servers())
	require.Zero(t, s.UserServerPairs())
	for _, e := range []event.Event{
		{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna"},
		{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna"},
		{Server: "SENSE2", Command: event.StartSession, Directory: "lab", UserID: "ANNA"},
		{Server: "SENSE2", Command: event.OpenConnection, Directory: "CORP", UserID: "bob"},
		{Server: "SENSE3", Command: event.StopSession, Directory: "CORP", UserID: "bob"},
		{Server: "SENSE3", Command: event.CloseConnection, Directory: "CORP", UserID: "bob"},
	} {
		s.Apply(&e, t0)
	}
	require.Equal(t, 2, s.ActiveUsers())
	require.Equal(t, 4, s.ActiveSessions())
	require.Equal(t, 2, s.Servers())
	require.Equal(t, 3, s.UserServerPairs())
}

func TestExpire(t *testing.T) {
	s := New(Config{})
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	apply(s, "SENSE1", event.StartSession, "LAB", "bob", t0)
	apply(s, "SENSE2", event.StartSession, "LAB", "anna", t0)
	// Any event keeps a pair alive, connections included.
	apply(s, "SENSE1", event.CloseConnection, "LAB", "bob", t0.Add(40*time.Minute))
	apply(s, "SENSE2", event.OpenConnection, "LAB", "anna", t0.Add(40*time.Minute))

	gen := s.Generation()
	require.Equal(t, 0, s.Expire(t0))
	require.Equal(t, gen, s.Generation(), "nothing expired, nothing changed")
	require.Equal(t, 2, s.Expire(t0.Add(30*time.Minute)))
	require.Equal(t, map[string]int{`LAB\bob`: 1}, sessionsOf(s, "SENSE1"))
	require.Equal(t, map[string]int{`LAB\anna`: 1}, sessionsOf(s, "SENSE2"))
	require.Equal(t, uint64(2), s.Counters().SessionsExpired)

	require.Equal(t, 2, s.Expire(t0.Add(time.Hour)))
	require.Zero(t, s.ActiveUsers())
	_, servers := s.Snapshot()
	require.Len(t, servers, 2, "both servers get their final zero")
}

// TestStateKeepsNoPartOfTheEvent: events alias the receive buffer, which is
// reused for the next datagram; the state must have copied what it keeps.
func TestStateKeepsNoPartOfTheEvent(t *testing.T) {
	buf := []byte(`SENSE1LABAnna`)
	view := func(from, to int) string { return unsafe.String(&buf[from], to-from) } //nolint:gosec // G103: the test aliases a buffer on purpose
	s := New(Config{})
	ev := event.Event{Server: view(0, 6), Command: event.StartSession, Directory: view(6, 9), UserID: view(9, 13)}
	require.Equal(t, Changed, s.Apply(&ev, t0))
	copy(buf, `XXXXXXXXXXXXX`)

	site, servers := s.Snapshot()
	require.Equal(t, users(`LAB\Anna`), site.Users)
	require.Equal(t, []Summary{{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\Anna`)}}, servers)

	// The keys were copied too: the user is still found, under any case.
	stop := event.Event{Server: "sense1", Command: event.StopSession, Directory: "lab", UserID: "anna"}
	require.Equal(t, Changed, s.Apply(&stop, t0))
	require.Zero(t, s.ActiveUsers())
}

// TestSnapshotSharesNothing: a caller may keep or change what Snapshot
// returns without touching the state or the next Snapshot.
func TestSnapshotSharesNothing(t *testing.T) {
	s := New(Config{})
	for _, name := range []string{"anna", "bob", "carl"} {
		ev := event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: name}
		s.Apply(&ev, t0)
	}
	site, servers := s.Snapshot()
	site.Users[0] = "changed"
	servers[0].Users[1] = "changed"
	servers[0].Server = "changed"

	ev := event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "aaron"}
	s.Apply(&ev, t0)
	site2, servers2 := s.Snapshot()
	require.Equal(t, users(`LAB\aaron`, `LAB\anna`, `LAB\bob`, `LAB\carl`), site2.Users)
	require.Equal(t, []Summary{{Server: "SENSE1", ActiveUsers: 4, ActiveSessions: 4, Users: users(`LAB\aaron`, `LAB\anna`, `LAB\bob`, `LAB\carl`)}}, servers2)
	require.Equal(t, "changed", site.Users[0], "the earlier summary is the caller's")
}

func TestApplyToKnownUserAndServerDoesNotAllocate(t *testing.T) {
	s := New(Config{})
	for _, e := range []event.Event{
		{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna"},
		{Server: "ZÜRICH", Command: event.StartSession, Directory: "MÜNCHEN", UserID: "Jörg"},
		{Server: "SENSE2", Command: event.StartSession, Directory: "LAB", UserID: "anna"},
	} {
		s.Apply(&e, t0)
	}
	tests := []struct {
		name   string
		events []event.Event
	}{
		{"start and stop", []event.Event{
			{Server: "sense1", Command: event.StartSession, Directory: "lab", UserID: "ANNA"},
			{Server: "SENSE1", Command: event.StopSession, Directory: "LAB", UserID: "anna"},
		}},
		{"start and stop, non-ASCII in other case", []event.Event{
			{Server: "zürich", Command: event.StartSession, Directory: "münchen", UserID: "JÖRG"},
			{Server: "ZüRiCh", Command: event.StopSession, Directory: "München", UserID: "jöRG"},
		}},
		{"open connection", []event.Event{{Server: "Sense2", Command: event.OpenConnection, Directory: "Lab", UserID: "Anna"}}},
		{"close connection", []event.Event{{Server: "SENSE2", Command: event.CloseConnection, Directory: "LAB", UserID: "anna"}}},
		{"orphan stop on a known server", []event.Event{{Server: "SENSE1", Command: event.StopSession, Directory: "LAB", UserID: "nobody"}}},
		{"close connection of an unknown user", []event.Event{{Server: "ZÜRICH", Command: event.CloseConnection, Directory: "LAB", UserID: "nobody"}}},
		{"untracked command", []event.Event{{Server: "SENSE1", Command: event.Unknown, Directory: "LAB", UserID: "anna"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(200, func() {
				for _, e := range tt.events {
					s.Apply(&e, t0)
				}
			})
			require.Zero(t, allocs)
		})
	}
	require.Equal(t, 2, s.ActiveUsers())
	require.Equal(t, 3, s.ActiveSessions())
}

// refState is an independent model of the state: plain maps keyed by
// strings.ToLower, no pointers shared between servers and users.
type refState struct {
	sessions   map[string]map[string]int // server key -> user key -> open sessions
	userName   map[string][2]string      // user key -> directory and id, while active
	serverName map[string]string         // server key -> name, while active or awaiting its zero
	emptied    map[string]bool           // servers whose last user left since the last summary
	counters   Counters
}

func newRefState() *refState {
	return &refState{
		sessions:   map[string]map[string]int{},
		userName:   map[string][2]string{},
		serverName: map[string]string{},
		emptied:    map[string]bool{},
	}
}

func (m *refState) userActive(key string) bool {
	for _, users := range m.sessions {
		if users[key] > 0 {
			return true
		}
	}
	return false
}

// apply returns the outcome and the names Apply must have written into the
// event.
func (m *refState) apply(server string, cmd event.Command, dir, id string) (Outcome, [3]string) {
	sk, uk := strings.ToLower(server), strings.ToLower(dir+`\`+id)
	names := [3]string{server, dir, id}
	n := m.sessions[sk][uk]
	if n > 0 {
		names = [3]string{m.serverName[sk], m.userName[uk][0], m.userName[uk][1]}
	} else if len(m.sessions[sk]) > 0 {
		names[0] = m.serverName[sk]
	}
	open := func() {
		if len(m.sessions[sk]) == 0 {
			if m.emptied[sk] {
				delete(m.emptied, sk) // back before its zero: keeps its name
			} else {
				m.serverName[sk] = server
			}
			m.sessions[sk] = map[string]int{}
		}
		if !m.userActive(uk) {
			m.userName[uk] = [2]string{dir, id}
		}
		m.sessions[sk][uk]++
		names = [3]string{m.serverName[sk], m.userName[uk][0], m.userName[uk][1]}
	}
	switch cmd {
	case event.StartSession:
		open()
		return Changed, names
	case event.StopSession:
		if n == 0 {
			m.counters.StopsWithoutStart++
			return OrphanStop, names
		}
		if m.sessions[sk][uk]--; m.sessions[sk][uk] == 0 {
			delete(m.sessions[sk], uk)
			if !m.userActive(uk) {
				delete(m.userName, uk)
			}
			if len(m.sessions[sk]) == 0 {
				delete(m.sessions, sk)
				m.emptied[sk] = true
			}
		}
		return Changed, names
	case event.OpenConnection:
		if n == 0 {
			open()
			m.counters.SessionsInferred++
			return Changed, names
		}
	}
	return Unchanged, names
}

func (m *refState) snapshot() (Summary, []Summary) {
	byFold := func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }
	site := Summary{Users: make([]string, 0)}
	seen := map[string]bool{}
	servers := make([]Summary, 0, len(m.sessions)+len(m.emptied))
	for sk, userSessions := range m.sessions {
		summary := Summary{Server: m.serverName[sk], Users: make([]string, 0)}
		for uk, n := range userSessions {
			name := m.userName[uk][0] + `\` + m.userName[uk][1]
			summary.ActiveUsers++
			summary.ActiveSessions += n
			summary.Users = append(summary.Users, name)
			site.ActiveSessions += n
			if !seen[uk] {
				seen[uk] = true
				site.Users = append(site.Users, name)
			}
		}
		slices.SortFunc(summary.Users, byFold)
		servers = append(servers, summary)
	}
	for sk := range m.emptied {
		servers = append(servers, Summary{Server: m.serverName[sk], Users: make([]string, 0)})
		delete(m.serverName, sk)
	}
	clear(m.emptied)
	site.ActiveUsers = len(site.Users)
	slices.SortFunc(site.Users, byFold)
	slices.SortFunc(servers, func(a, b Summary) int { return byFold(a.Server, b.Server) })
	return site, servers
}

// respell writes a name with each letter in a random case.
func respell(rng *rand.Rand, s string) string {
	var b strings.Builder
	for _, r := range s {
		switch rng.IntN(3) {
		case 0:
			r = unicode.ToUpper(r)
		case 1:
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestRandomTrafficAgainstModel applies random events, with names in random
// case, over a few users, directories and servers, and compares every
// outcome, every rewritten event, the gauges and counters after every event
// and every Snapshot with refState. Phases of mostly starts and mostly
// stops empty and refill servers, so that final zeros and returns happen.
//
// From seed 4 on, the change logs behind the user lists overflow (they are
// allowed only a few changes), so that lists sent whole are checked too.
func TestRandomTrafficAgainstModel(t *testing.T) {
	servers := []string{"SENSE1", "sense2.lab.example", "Zürich", "ΑΘΗΝΑ"}
	dirs := []string{"LAB", "corp", "MÜNCHEN"}
	ids := []string{"anna", "Bob", "jörg", "åsa", "admin", "Σοφία", "李雷"}
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			if seed >= 4 {
				limitChangeLog(t, 3)
			}
			rng := rand.New(rand.NewPCG(seed, 2026))
			s, m := New(Config{}), newRefState()
			snapshots, overflows := 0, 0
			for i := 0; i < 4000; i++ {
				server := respell(rng, servers[rng.IntN(len(servers))])
				dir := respell(rng, dirs[rng.IntN(len(dirs))])
				id := respell(rng, ids[rng.IntN(len(ids))])
				// Phases of 400 events: filling (few stops), then draining (many).
				weights := [4]int{45, 25, 20, 10}
				if (i/400)%2 == 1 {
					weights = [4]int{10, 70, 5, 15}
				}
				cmd, r := event.StartSession, rng.IntN(100)
				for c, w := range weights {
					if r < w {
						cmd = event.Command(1 + c)
						break
					}
					r -= w
				}
				if rng.IntN(50) == 0 {
					cmd = event.Unknown
				}

				wantOutcome, wantNames := m.apply(server, cmd, dir, id)
				ev := event.Event{Server: server, Command: cmd, Directory: dir, UserID: id, Origin: "AppAccess"}
				require.Equal(t, wantOutcome, s.Apply(&ev, t0), "event %d: %+v", i, ev)
				require.Equal(t, event.Event{Server: wantNames[0], Command: cmd, Directory: wantNames[1], UserID: wantNames[2], Origin: "AppAccess"}, ev,
					"event %d: names written back", i)

				pairs, sessions := 0, 0
				for _, users := range m.sessions {
					pairs += len(users)
					for _, n := range users {
						sessions += n
					}
				}
				require.Equal(t, len(m.userName), s.ActiveUsers(), "event %d", i)
				require.Equal(t, sessions, s.ActiveSessions(), "event %d", i)
				require.Equal(t, len(m.sessions), s.Servers(), "event %d", i)
				require.Equal(t, pairs, s.UserServerPairs(), "event %d", i)
				require.Equal(t, m.counters, s.Counters(), "event %d", i)

				if rng.IntN(20) == 0 {
					snapshots++
					if s.names.overflow {
						overflows++
					}
					wantSite, wantServers := m.snapshot()
					site, gotServers := s.Snapshot()
					require.Equal(t, wantSite, site, "event %d", i)
					if len(wantServers) == 0 {
						require.Empty(t, gotServers, "event %d", i)
					} else {
						require.Equal(t, wantServers, gotServers, "event %d", i)
					}
				}
			}
			require.Greater(t, snapshots, 100)
			if seed >= 4 {
				require.NotZero(t, overflows, "the site's change log never overflowed")
			}
			require.NotZero(t, m.counters.StopsWithoutStart)
			require.NotZero(t, m.counters.SessionsInferred)
		})
	}
}

// fill starts one session for each of n users, spread over 10 servers.
func fill(s *State, n int) {
	for u := 0; u < n; u++ {
		ev := event.Event{Server: fmt.Sprintf("SENSE%02d", u%10), Command: event.StartSession, Directory: "LAB", UserID: fmt.Sprintf("user%06d", u)}
		s.Apply(&ev, t0)
	}
}

// BenchmarkApplyByCommand times each kind of event against a state of
// 100,000 users; names come in another case than first seen, as they do.
func BenchmarkApplyByCommand(b *testing.B) {
	const users = 100_000
	s := New(Config{})
	fill(s, users)
	for _, bench := range []struct {
		name    string
		cmds    []event.Command
		newUser bool // a user not in the state
	}{
		{"start+stop", []event.Command{event.StartSession, event.StopSession}, false},
		{"open", []event.Command{event.OpenConnection}, false},
		{"close", []event.Command{event.CloseConnection}, false},
		{"orphan_stop", []event.Command{event.StopSession}, true},
		{"new_user_start+stop", []event.Command{event.StartSession, event.StopSession}, true},
	} {
		b.Run(bench.name, func(b *testing.B) {
			// A ring of prepared events, so that no name is built in the loop.
			const ring = 4096
			events := make([][]event.Event, ring)
			for i := range events {
				u := i * 24 % users
				id := fmt.Sprintf("USER%06d", u)
				if bench.newUser {
					id = fmt.Sprintf("NEW%06d", i)
				}
				for _, cmd := range bench.cmds {
					events[i] = append(events[i], event.Event{Server: fmt.Sprintf("sense%02d", u%10), Command: cmd, Directory: "lab", UserID: id})
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, e := range events[i%ring] {
					s.Apply(&e, t0)
				}
			}
		})
	}
	if s.ActiveUsers() != users || s.ActiveSessions() != users {
		b.Fatalf("%d users, %d sessions after the benchmark, want %d", s.ActiveUsers(), s.ActiveSessions(), users)
	}
}

// BenchmarkSnapshotIdle is a summary at 100,000 users when nothing changed
// since the last one, as on a quiet site between gathers.
func BenchmarkSnapshotIdle(b *testing.B) {
	s := New(Config{})
	fill(s, 100_000)
	s.Snapshot()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Snapshot()
	}
}
