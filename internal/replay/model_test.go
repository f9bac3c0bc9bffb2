package replay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	appX = "11111111-2222-4333-8444-555555555555"
	appY = "66666666-7777-4888-8999-aaaaaaaaaaaa"
)

// ghostTraffic: two sessions of a user, each with a connection to its own
// app; a Stop without an id cannot tell which ended (a ghost), and a second
// one ends the last session while both connections are still open.
func ghostTraffic() []Event {
	ev := func(command, context, message string) Event {
		return Event{Server: "SENSE1", Command: command, Directory: "LAB", UserID: "anna", Context: context, Message: message}
	}
	open := func(app, id string) Event {
		e := ev(OpenConnection, "/app/"+app+"?reloadUri=x", "connection Opened for session '"+id+"'")
		e.SessionID = id
		return e
	}
	return []Event{
		ev(StartSession, "/hub/", "Start session for user 'LAB\\anna'"), open(appX, "s1"),
		ev(StartSession, "/hub/", "Start session for user 'LAB\\anna'"), open(appY, "s2"),
		ev(StopSession, "/hub/", "Stop session for user 'LAB\\anna'"),
		ev(StopSession, "/hub/", "Stop session for user 'LAB\\anna'"),
	}
}

// The plugin's behaviour today, which the model follows knowingly (see
// stopLast): when the last session ends by a Stop without an id, only the
// first record's connections drain; the other record's stay counted in
// their app after the window, though the user has no session left.
func TestGhostsConnectionsStayCounted(t *testing.T) {
	m := NewModel(ReorderWindow)
	at := time.Unix(1e9, 0)
	for i, ev := range ghostTraffic() {
		m.Apply(&ev, at.Add(time.Duration(i)*time.Second))
	}
	during := m.Snapshot(6)
	require.Zero(t, during.ActiveUsers)
	require.Len(t, during.Apps, 2, "both connections drain for the window, or stay")
	m.Sweep(at.Add(time.Minute))
	after := m.Snapshot(6)
	require.Zero(t, after.ActiveUsers)
	require.Equal(t, []AppExpected{{App: appY, ActiveUsers: 1, ActiveConnections: 1, Users: []string{`LAB\anna`}}}, after.Apps)
}

// The model's rules on small cases: a connection that overtakes its Start,
// a Stop that overtakes it, case-insensitive names in their first spelling.
func TestModelReordersWithinTheWindow(t *testing.T) {
	at := time.Unix(1e9, 0)
	apply := func(m *Model, events ...Event) {
		for i := range events {
			m.Apply(&events[i], at)
			at = at.Add(time.Second)
		}
	}
	start := Event{Server: "SENSE1", Command: StartSession, Directory: "LAB", UserID: "Anna"}
	stop := Event{Server: "sense1", Command: StopSession, Directory: "lab", UserID: "anna"}
	open := Event{Server: "SENSE1", Command: OpenConnection, Directory: "LAB", UserID: "ANNA", Context: "/app/" + appX, SessionID: "s1"}

	m := NewModel(ReorderWindow)
	apply(m, open, start) // the connection came first: one session
	got := m.Snapshot(2)
	require.Equal(t, 1, got.ActiveSessions)
	require.Equal(t, []string{`LAB\ANNA`}, got.Users, "as first seen")
	require.Equal(t, []ServerExpected{{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: []string{`LAB\ANNA`}}}, got.Servers)
	require.Equal(t, []AppExpected{{App: appX, ActiveUsers: 1, ActiveConnections: 1, Users: []string{`LAB\ANNA`}}}, got.Apps)

	m = NewModel(ReorderWindow)
	apply(m, stop, start) // a short session whose Stop came first: none
	require.Zero(t, m.Snapshot(2).ActiveSessions)
	apply(m, stop)
	at = at.Add(time.Minute)
	apply(m, start) // not within the window: the Start counts
	require.Equal(t, 1, m.Snapshot(4).ActiveSessions)

	m = NewModel(0)
	apply(m, open, start) // without a window: two
	require.Equal(t, 2, m.Snapshot(2).ActiveSessions)
}
