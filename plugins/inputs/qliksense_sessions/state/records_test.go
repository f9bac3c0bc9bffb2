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
		{Server: "SENSE2", Directory: "CORP", UserID: "bob", Sessions: 1, FirstSeen: t0.Add(2 * time.Minute), LastSeen: t0.Add(2 * time.Minute),
			StartSeen: true},
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
