package state

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// What one user can make the state hold: Config.MaxUserSessions sessions
// over all servers, each session id at most MaxSessionIDLength bytes.

func sessionEvent(server string, cmd event.Command, user, id string) *event.Event {
	return &event.Event{Server: server, Command: cmd, Directory: "LAB", UserID: user, SessionID: id}
}

// A user's sessions over all servers stop at MaxUserSessions, whatever
// opens them (Start sessions with or without an id, connections naming new
// ids, the session API, a restore); the refusals are counted; the user's
// known sessions keep working, and a session that ends makes room again.
func TestMaxUserSessions(t *testing.T) {
	s := New(Config{ReorderWindow: DefaultReorderWindow, MaxUserSessions: 3})
	at := t0
	next := func() time.Time { at = at.Add(10 * time.Second); return at }

	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", start, "anna", ""), next()))
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", start, "anna", "a2"), next()))
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE2", open, "anna", "a3"), next()))
	require.Equal(t, 3, s.ActiveSessions())

	for _, ev := range []*event.Event{
		sessionEvent("SENSE1", start, "anna", ""),   // over UDP
		sessionEvent("SENSE1", start, "anna", "a4"), // from the log files
		sessionEvent("SENSE2", open, "anna", "a5"),  // a connection of a session not known yet
		sessionEvent("SENSE3", start, "anna", ""),   // on another server: the limit is the user's
		sessionEvent("SENSE3", open, "anna", "a6"),
	} {
		require.Equal(t, RefusedMaxUserSessions, s.Apply(ev, next()), "%+v", ev)
	}
	require.Equal(t, 3, s.ActiveSessions())
	require.Equal(t, 2, s.Servers(), "a refused session makes no server")
	require.Equal(t, uint64(5), s.Counters().RefusedMaxUserSessions)

	// Known sessions keep working; another user is not concerned.
	require.Equal(t, Unchanged, s.Apply(sessionEvent("SENSE2", open, "anna", "a3"), next()))
	require.Equal(t, Unchanged, s.Apply(sessionEvent("SENSE2", closeConn, "anna", "a3"), next()))
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", start, "bob", ""), next()))

	// A session that ends makes room for one more.
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", stop, "anna", "a2"), next()))
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE3", open, "anna", "a7"), next()))
	require.Equal(t, RefusedMaxUserSessions, s.Apply(sessionEvent("SENSE3", open, "anna", "a8"), next()))
	require.Equal(t, 4, s.ActiveSessions())
	require.Equal(t, uint64(6), s.Counters().RefusedMaxUserSessions)

	// The session API gives a user no more than the limit either: anna has
	// 3 already, carl gets 3 of his 5.
	answer := make([]APISession, 0, 7)
	answer = append(answer, APISession{Directory: "LAB", UserID: "anna"}, APISession{Directory: "LAB", UserID: "anna"})
	for range 5 {
		answer = append(answer, APISession{Directory: "LAB", UserID: "carl"})
	}
	s.BeginReconcile("SENSE1")
	added, _ := s.Reconcile("SENSE1", answer, next())
	require.Equal(t, 3, added, "carl's 3 sessions: anna had no room for her second one on SENSE1")
	require.Equal(t, map[string]int{`LAB\anna`: 1, `LAB\carl`: 3}, sessionsOf(s, "SENSE1"))
	require.Equal(t, 3, userSessions(s, "anna"))

	// Nor does a restore.
	r := New(Config{MaxUserSessions: 3})
	require.Equal(t, 1, r.Restore([]Record{
		{Server: "SENSE1", Directory: "LAB", UserID: "dora", Sessions: 2, FirstSeen: t0, LastSeen: t0},
		{Server: "SENSE2", Directory: "LAB", UserID: "dora", Sessions: 2, FirstSeen: t0, LastSeen: t0,
			Known: []KnownSession{{ID: "d1"}, {ID: "d2"}}},
		{Server: "SENSE3", Directory: "LAB", UserID: "dora", Sessions: 1, FirstSeen: t0, LastSeen: t0},
	}), "the record with no room left is skipped")
	require.Equal(t, 3, r.ActiveSessions())
	records := r.Records()
	require.Len(t, records, 2)
	require.Equal(t, 1, records[1].Sessions)
	require.Len(t, records[1].Known, 1, "no more known sessions than sessions")
}

// userSessions is a user's open sessions over all servers.
func userSessions(s *State, id string) int {
	n := 0
	for _, r := range s.Records() {
		if r.UserID == id {
			n += r.Sessions
		}
	}
	return n
}

// Without MaxUserSessions a user's sessions are not bounded (the state
// alone; the plugin always sets it).
func TestNoMaxUserSessions(t *testing.T) {
	s := New(Config{})
	for i := range 1000 {
		require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", open, "anna", strconv.Itoa(i)), t0))
	}
	require.Equal(t, 1000, s.ActiveSessions())
	require.Zero(t, s.Counters().RefusedMaxUserSessions)
}

// An event naming a session id longer than MaxSessionIDLength changes
// nothing and is counted, whatever its command; one at the limit counts.
// A restored session id over the limit is dropped, its session kept.
func TestSessionIDLength(t *testing.T) {
	s := New(Config{ReorderWindow: DefaultReorderWindow, MaxUserSessions: 100})
	long := strings.Repeat("x", MaxSessionIDLength+1)
	atLimit := strings.Repeat("y", MaxSessionIDLength)

	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", open, "anna", atLimit), t0))
	for _, cmd := range []event.Command{start, open, closeConn, stop} {
		ev := sessionEvent("SENSE1", cmd, "anna", long)
		require.Equal(t, RefusedSessionIDLength, s.Apply(ev, t0), "%s", cmd)
		ev = sessionEvent("SENSE1", cmd, "bob", long)
		require.Equal(t, RefusedSessionIDLength, s.Apply(ev, t0), "%s of a user not tracked", cmd)
	}
	require.Equal(t, 1, s.ActiveSessions())
	require.Equal(t, 1, s.ActiveUsers())
	require.Equal(t, uint64(8), s.Counters().RefusedSessionIDLength)
	require.Zero(t, s.Counters().RefusedMaxUserSessions)
	require.Equal(t, []KnownSession{{ID: atLimit, Connections: 1}}, s.Records()[0].Known)

	// A refused event still takes the names first seen, as every event does.
	ev := &event.Event{Server: "sense1", Command: stop, Directory: "lab", UserID: "ANNA", SessionID: long}
	require.Equal(t, RefusedSessionIDLength, s.Apply(ev, t0))
	require.Equal(t, []string{"SENSE1", "LAB", "anna"}, []string{ev.Server, ev.Directory, ev.UserID})

	r := New(Config{MaxUserSessions: 100})
	require.Zero(t, r.Restore([]Record{{Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 2, FirstSeen: t0, LastSeen: t0,
		Known: []KnownSession{{ID: long}, {ID: atLimit}}}}))
	require.Equal(t, 2, r.ActiveSessions())
	require.Equal(t, []KnownSession{{ID: atLimit}}, r.Records()[0].Known)
}

// What a state at its limits saves, a state with the same limits restores
// whole: the sessions and ids of users at MaxUserSessions, over several
// servers, with ids of MaxSessionIDLength bytes.
func TestRecordsAtTheLimitsRestoreWhole(t *testing.T) {
	cfg := Config{ReorderWindow: DefaultReorderWindow, MaxUserSessions: 10}
	s := New(cfg)
	for u := range 3 {
		user := fmt.Sprintf("user%d", u)
		for i := range 2 * cfg.MaxUserSessions {
			id := fmt.Sprintf("%d-%d-", u, i)
			id += strings.Repeat("z", MaxSessionIDLength-len(id))
			s.Apply(sessionEvent(fmt.Sprintf("SENSE%d", i%3), open, user, id), t0)
		}
	}
	require.Equal(t, 3*cfg.MaxUserSessions, s.ActiveSessions())
	saved := s.Records()
	r := New(cfg)
	require.Zero(t, r.Restore(saved))
	require.Equal(t, saved, r.Records())
	require.Zero(t, r.Counters().RefusedMaxUserSessions)
}

// A connection that proves every record of a pair alive after a Stop left a
// phantom adds the session that Stop took from the count, unless the user
// is at MaxUserSessions: then one session fewer is known, so that the
// pair never knows more sessions than it counts.
func TestPhantomAtMaxUserSessions(t *testing.T) {
	s := New(Config{ReorderWindow: DefaultReorderWindow, MaxUserSessions: 2})
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	s.Apply(sessionEvent("SENSE1", start, "anna", "a"), at(0))
	s.Apply(sessionEvent("SENSE1", start, "anna", "b"), at(1))
	s.Apply(sessionEvent("SENSE1", open, "anna", "a"), at(2))
	s.Apply(sessionEvent("SENSE1", open, "anna", "b"), at(3))
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", stop, "anna", ""), at(10))) // which one ended is not known
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE2", start, "anna", ""), at(11)))
	require.Equal(t, 2, s.ActiveSessions())

	require.Equal(t, Unchanged, s.Apply(sessionEvent("SENSE1", open, "anna", "a"), at(12)))
	require.Equal(t, RefusedMaxUserSessions, s.Apply(sessionEvent("SENSE1", open, "anna", "b"), at(13)),
		"both records alive: the stop ended a session not known, which there is no room for")
	require.Equal(t, 2, s.ActiveSessions())
	records := s.Records()
	require.Equal(t, 1, records[0].Sessions)
	require.Equal(t, []KnownSession{{ID: "b", Started: at(1), Connections: 2}}, records[0].Known)
	checkIndexes(t, s, "after the refusal")
}

// Records never lists more known sessions than a record counts, as
// Restore would drop them: a Stop naming an id not known, when every known
// session has connections, ends one of them, not knowing which.
func TestRecordsKnowNoMoreSessionsThanTheyCount(t *testing.T) {
	s := New(Config{ReorderWindow: DefaultReorderWindow})
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	s.Apply(sessionEvent("SENSE1", start, "anna", "a"), at(0))
	s.Apply(sessionEvent("SENSE1", start, "anna", "b"), at(1))
	s.Apply(sessionEvent("SENSE1", open, "anna", "a"), at(2))
	s.Apply(sessionEvent("SENSE1", open, "anna", "b"), at(3))
	require.Equal(t, Changed, s.Apply(sessionEvent("SENSE1", stop, "anna", "zzz"), at(10)))
	records := s.Records()
	require.Equal(t, 1, records[0].Sessions)
	require.Len(t, records[0].Known, 1)
	r := New(Config{ReorderWindow: DefaultReorderWindow})
	require.Zero(t, r.Restore(records))
	require.Equal(t, records, r.Records())
}
