package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

var t0 = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

func apply(s *State, server string, cmd event.Command, dir, user string, at time.Time) Outcome {
	ev := event.Event{Server: server, Command: cmd, Directory: dir, UserID: user}
	return s.Apply(&ev, at)
}

// sessionsOf maps DIR\user to open sessions on a server, from Records.
func sessionsOf(s *State, server string) map[string]int {
	out := make(map[string]int)
	for _, r := range s.Records() {
		if r.Server == server {
			out[r.Directory+`\`+r.UserID] = r.Sessions
		}
	}
	return out
}

func TestRecordsRestoreRoundTrip(t *testing.T) {
	s := New(Config{})
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	apply(s, "SENSE1", event.StartSession, "lab", "ANNA", t0.Add(time.Minute))
	apply(s, "SENSE2", event.StartSession, "CORP", "bob", t0.Add(2*time.Minute))
	// A connection names one of anna's sessions; carl's proves his.
	s.Apply(&event.Event{Server: "SENSE1", Command: event.OpenConnection, Directory: "LAB", UserID: "anna", SessionID: "s-anna"}, t0.Add(time.Minute))
	s.Apply(&event.Event{Server: "SENSE2", Command: event.OpenConnection, Directory: "LAB", UserID: "carl", SessionID: "s-carl",
		Context: "/app/" + salesApp}, t0.Add(3*time.Minute))
	records := s.Records()
	require.Equal(t, []Record{
		{Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 2, FirstSeen: t0, LastSeen: t0.Add(time.Minute), StartSeen: true,
			Known: []KnownSession{{ID: "s-anna", Connections: 1}}},
		{Server: "SENSE2", Directory: "CORP", UserID: "bob", Sessions: 1, FirstSeen: t0.Add(2 * time.Minute), LastSeen: t0.Add(2 * time.Minute), StartSeen: true},
		{Server: "SENSE2", Directory: "LAB", UserID: "carl", Sessions: 1, FirstSeen: t0.Add(3 * time.Minute), LastSeen: t0.Add(3 * time.Minute),
			Known: []KnownSession{{ID: "s-carl", Connections: 1, Apps: []AppConnections{{App: salesApp, Connections: 1}}}}},
	}, records)

	restored := New(Config{})
	before := restored.Generation()
	skipped := restored.Restore(append(records,
		Record{Server: "", Directory: "LAB", UserID: "x", Sessions: 1},
		Record{Server: "SENSE1", Directory: "LAB", UserID: "y", Sessions: 0},
	))
	require.Equal(t, 2, skipped)
	require.NotEqual(t, before, restored.Generation())
	require.Equal(t, records, restored.Records())
	require.Equal(t, 1, restored.Apps(), "the connections to apps are restored")
	require.Equal(t, 3, restored.ActiveUsers())
	require.Equal(t, 4, restored.ActiveSessions())

	// A restored session closes like any other, and its duration is known
	// across the restart.
	stop := event.Event{Server: "sense2", Command: event.StopSession, Directory: "corp", UserID: "BOB"}
	restored.Apply(&stop, t0.Add(time.Hour))
	require.Equal(t, time.Hour-2*time.Minute, stop.Duration)
	require.Equal(t, 2, restored.ActiveUsers())
	// A restored session known by its id still is.
	restored.Apply(&event.Event{Server: "SENSE2", Command: event.OpenConnection, Directory: "LAB", UserID: "carl", SessionID: "s-carl"}, t0.Add(time.Hour))
	require.Equal(t, 3, restored.ActiveSessions())
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

func TestReconcileReplacesAServer(t *testing.T) {
	s := New(Config{})
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)  // API agrees
	apply(s, "SENSE1", event.StartSession, "LAB", "ghost", t0) // its stop was lost
	apply(s, "SENSE1", event.StartSession, "LAB", "maria", t0) // has 3 sessions really
	apply(s, "SENSE2", event.StartSession, "LAB", "ghost", t0) // other servers are left alone

	s.BeginReconcile("sense1")
	added, removed := s.Reconcile("sense1", []APISession{
		{Directory: "LAB", UserID: "anna"},
		{Directory: "lab", UserID: "MARIA"}, {Directory: "LAB", UserID: "maria"}, {Directory: "LAB", UserID: "maria"},
		{Directory: "CORP", UserID: "early"}, // started before we listened
		{Directory: "", UserID: "broken"},    // skipped
	}, t0.Add(time.Minute))
	require.Equal(t, 3, added)
	require.Equal(t, 1, removed)
	require.Equal(t, map[string]int{`LAB\anna`: 1, `LAB\maria`: 3, `CORP\early`: 1}, sessionsOf(s, "SENSE1"))
	require.Equal(t, map[string]int{`LAB\ghost`: 1}, sessionsOf(s, "SENSE2"))
	require.Equal(t, uint64(3), s.Counters().ReconcileAdded)
	require.Equal(t, uint64(1), s.Counters().ReconcileRemoved)

	// An empty answer empties the server.
	s.BeginReconcile("SENSE1")
	added, removed = s.Reconcile("SENSE1", nil, t0.Add(2*time.Minute))
	require.Equal(t, 0, added)
	require.Equal(t, 5, removed)
	require.Empty(t, sessionsOf(s, "SENSE1"))
	require.Equal(t, 1, s.ActiveUsers())
}

// Events that arrive while the API request is under way may or may not be
// in its answer; they are newer than the state either way, so the users
// they name keep what the events say.
func TestReconcileKeepsEventsDuringThePoll(t *testing.T) {
	s := New(Config{})
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	apply(s, "SENSE1", event.StartSession, "LAB", "bob", t0)

	s.BeginReconcile("SENSE1")
	// While the request is out: carl logs in, bob logs out, dora logs in on
	// another server.
	apply(s, "SENSE1", event.StartSession, "LAB", "carl", t0.Add(time.Second))
	apply(s, "SENSE1", event.StopSession, "LAB", "bob", t0.Add(time.Second))
	apply(s, "SENSE2", event.StartSession, "LAB", "dora", t0.Add(time.Second))
	// The answer was taken before those events: it still has bob, not carl.
	added, removed := s.Reconcile("SENSE1", []APISession{
		{Directory: "LAB", UserID: "anna"}, {Directory: "LAB", UserID: "anna"}, // anna really has 2
		{Directory: "LAB", UserID: "bob"},
	}, t0.Add(2*time.Second))
	require.Equal(t, 1, added)
	require.Zero(t, removed)
	require.Equal(t, map[string]int{`LAB\anna`: 2, `LAB\carl`: 1}, sessionsOf(s, "SENSE1"))
	require.Equal(t, map[string]int{`LAB\dora`: 1}, sessionsOf(s, "SENSE2"))

	// After the reconciliation, events are no longer noted: the next answer
	// applies to carl as to everyone.
	apply(s, "SENSE1", event.OpenConnection, "LAB", "carl", t0.Add(3*time.Second))
	s.BeginReconcile("SENSE1")
	s.Reconcile("SENSE1", []APISession{{Directory: "LAB", UserID: "anna"}}, t0.Add(4*time.Second))
	require.Equal(t, map[string]int{`LAB\anna`: 1}, sessionsOf(s, "SENSE1"))
}

func TestCancelReconcile(t *testing.T) {
	s := New(Config{})
	s.BeginReconcile("SENSE1")
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	s.CancelReconcile("SENSE1")
	require.Empty(t, s.reconciling)
	apply(s, "SENSE1", event.StartSession, "LAB", "bob", t0)
	require.Empty(t, s.reconciling, "events are not noted after a cancel")
}
