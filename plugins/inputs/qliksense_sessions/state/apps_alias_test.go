package state

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// An event's strings may alias a buffer its source reuses (the log file
// source hands rows over in place): an app counted from one row stays that
// app when the buffer holds the next row.
func TestAppKeyIsNotTheEventsBuffer(t *testing.T) {
	s := New(Config{})
	buf := []byte("/app/" + salesApp)
	open := func(user, app string) {
		copy(buf, "/app/"+app)
		ev := event.Event{Server: "SENSE1", Command: event.OpenConnection, Directory: "LAB", UserID: user, SessionID: user,
			Context: unsafeString(buf)}
		s.Apply(&ev, t0)
	}
	open("anna", salesApp)
	open("bob", financeApp)
	open("carl", salesApp)
	require.Equal(t, 2, s.Apps())
	changes := s.TakeChanges()
	s.Summarise(changes)
	require.Equal(t, apps(inApp(salesApp, 2, `LAB\anna`, `LAB\carl`), inApp(financeApp, 1, `LAB\bob`)), s.SummariseApps(changes))
}
