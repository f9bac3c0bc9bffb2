package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

const (
	salesApp   = "5a1e5a1e-0000-4000-8000-00000000a001"
	financeApp = "f1a4ce00-0000-4000-8000-00000000f002"
)

// appStory applies events of users on SENSE1 and checks the app summaries.
type appEvent struct {
	ms      int
	cmd     event.Command
	user    string // DIR\id
	id      string // session id
	app     string // "" for the hub
	summary []Summary
}

func apps(summaries ...Summary) []Summary { return summaries }

func inApp(app string, connections int, names ...string) Summary {
	return Summary{App: app, ActiveUsers: len(names), ActiveConnections: connections, Users: users(names...)}
}

func TestAppStories(t *testing.T) {
	tests := []struct {
		name  string
		story []appEvent
	}{
		{
			name: "three tabs on one app are one user and three connections; a close takes one",
			story: []appEvent{
				{cmd: start, user: `LAB\anna`},
				{cmd: open, user: `LAB\anna`, id: "a", app: salesApp},
				{cmd: open, user: `LAB\anna`, id: "a", app: salesApp},
				{cmd: open, user: `LAB\anna`, id: "a", app: salesApp, summary: apps(inApp(salesApp, 3, `LAB\anna`))},
				{cmd: open, user: `CORP\bob`, id: "b", app: salesApp},
				{cmd: open, user: `LAB\anna`, id: "a", app: financeApp},
				{cmd: open, user: `LAB\anna`, id: "a"}, // the hub: no app
				{cmd: closeConn, user: `LAB\anna`, id: "a", app: salesApp,
					summary: apps(inApp(salesApp, 3, `CORP\bob`, `LAB\anna`), inApp(financeApp, 1, `LAB\anna`))},
			},
		},
		{
			name: "a session's end closes its connections; the app's last user leaves with a final zero",
			story: []appEvent{
				{cmd: start, user: `LAB\anna`},
				{cmd: open, user: `LAB\anna`, id: "a", app: salesApp},
				{cmd: start, user: `LAB\anna`},
				{cmd: open, user: `LAB\anna`, id: "a2", app: financeApp},
				{cmd: closeConn, user: `LAB\anna`, id: "a2", app: financeApp},
				// The Stop ends the session without open connections.
				{ms: 1000, cmd: stop, user: `LAB\anna`, summary: apps(inApp(salesApp, 1, `LAB\anna`), inApp(financeApp, 0))},
				{ms: 2000, cmd: stop, user: `LAB\anna`},
				// Its connection closes after the Stop: counted until then.
				{ms: 2001, cmd: closeConn, user: `LAB\anna`, id: "a", app: salesApp, summary: apps(inApp(salesApp, 0))},
			},
		},
		{
			name: "connections left open at a Stop close when the window has passed",
			story: []appEvent{
				{cmd: start, user: `LAB\anna`},
				{cmd: open, user: `LAB\anna`, id: "a", app: salesApp},
				{ms: 1000, cmd: stop, user: `LAB\anna`, summary: apps(inApp(salesApp, 1, `LAB\anna`))},
				{ms: 7000, cmd: closeConn, user: `CORP\nobody`, summary: apps(inApp(salesApp, 0))},
			},
		},
		{
			name: "a short session's Stop that overtook its Start does not close the live session's tabs",
			story: []appEvent{
				{cmd: start, user: `LAB\anna`},
				{cmd: open, user: `LAB\anna`, id: "a", app: salesApp},
				{ms: 10_000, cmd: stop, user: `LAB\anna`},
				{ms: 10_001, cmd: start, user: `LAB\anna`, summary: apps(inApp(salesApp, 1, `LAB\anna`))},
				{ms: 20_000, cmd: open, user: `LAB\anna`, id: "a", app: salesApp, summary: apps(inApp(salesApp, 2, `LAB\anna`))},
			},
		},
		{
			name: "app ids compare ignoring case",
			story: []appEvent{
				{cmd: start, user: `LAB\anna`},
				{cmd: open, user: `LAB\anna`, id: "a", app: salesApp},
				{cmd: open, user: `lab\ANNA`, id: "a", app: "5A1E5A1E-0000-4000-8000-00000000A001", summary: apps(inApp(salesApp, 2, `LAB\anna`))},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{ReorderWindow: 5 * time.Second})
			for i, e := range tt.story {
				dir, id, _ := cut(e.user)
				ev := event.Event{Server: "SENSE1", Command: e.cmd, Directory: dir, UserID: id, SessionID: e.id, Context: "/hub/"}
				if e.app != "" {
					ev.Context = "/app/" + e.app + "?reloadUri=https://sense1/hub"
				}
				now := t0.Add(time.Duration(e.ms) * time.Millisecond)
				s.Apply(&ev, now)
				if e.summary != nil {
					s.Sweep(now)
					changes := s.TakeChanges()
					s.Summarise(changes)
					require.Equal(t, e.summary, s.SummariseApps(changes), "after event %d", i)
				}
			}
		})
	}
}

func cut(name string) (dir, id string, ok bool) {
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' {
			return name[:i], name[i+1:], true
		}
	}
	return "", name, false
}

// Apps beyond MaxApps are not counted, and the refusals are.
func TestMaxApps(t *testing.T) {
	s := New(Config{MaxApps: 2})
	for i := 0; i < 3; i++ {
		ev := event.Event{Server: "SENSE1", Command: open, Directory: "LAB", UserID: "anna", SessionID: "a",
			Context: fmt.Sprintf("/app/00000000-0000-4000-8000-%012d", i)}
		s.Apply(&ev, t0)
	}
	require.Equal(t, 2, s.Apps())
	require.Equal(t, uint64(1), s.Counters().RefusedMaxApps)
	require.Equal(t, 1, s.ActiveSessions(), "the connection still proves the session")
}

// A connection of a known user to a known app allocates nothing.
func TestAppConnectionsDoNotAllocate(t *testing.T) {
	s := New(Config{ReorderWindow: 5 * time.Second})
	fill(s, 1000)
	open := event.Event{Server: "SENSE01", Command: event.OpenConnection, Directory: "LAB", UserID: "user000001", SessionID: "s1",
		Context: "/app/" + salesApp + "?reloadUri=https://sense1/hub"}
	s.Apply(&open, t0)
	closeEv := open
	closeEv.Command = event.CloseConnection
	allocs := testing.AllocsPerRun(1000, func() {
		o, c := open, closeEv
		s.Apply(&o, t0)
		s.Apply(&c, t0)
	})
	require.Zero(t, allocs)
	require.Equal(t, 1, s.Apps())
}
