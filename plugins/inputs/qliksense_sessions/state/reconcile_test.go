package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

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

// An answer folded per user says each user's sessions in one entry; the
// users the limits refuse count as the API's refusals, in sessions, not as
// refused events.
func TestReconcileFoldedAnswerAndLimits(t *testing.T) {
	s := New(Config{MaxUsers: 2, MaxServers: 1})
	apply(s, "SENSE1", event.StartSession, "LAB", "anna", t0)
	s.BeginReconcile("SENSE1")
	added, removed := s.Reconcile("SENSE1", []APISession{
		{Directory: "LAB", UserID: "anna", Sessions: 3},
		{Directory: "LAB", UserID: "bob", Sessions: 2},
		{Directory: "LAB", UserID: "carl", Sessions: 4}, // beyond max_users
		{Directory: "LAB", UserID: "dan"},               // beyond max_users
	}, t0.Add(time.Minute))
	require.Equal(t, 4, added)
	require.Equal(t, 0, removed)
	require.Equal(t, map[string]int{`LAB\anna`: 3, `LAB\bob`: 2}, sessionsOf(s, "SENSE1"))
	c := s.Counters()
	require.Equal(t, uint64(5), c.APIRefusedMaxUsers)
	require.Zero(t, c.RefusedMaxUsers, "no event was refused")

	s.BeginReconcile("SENSE2")
	s.Reconcile("SENSE2", []APISession{{Directory: "LAB", UserID: "anna", Sessions: 2}}, t0.Add(time.Minute))
	c = s.Counters()
	require.Equal(t, uint64(2), c.APIRefusedMaxServers)
	require.Zero(t, c.RefusedMaxServers, "no event was refused")
}
