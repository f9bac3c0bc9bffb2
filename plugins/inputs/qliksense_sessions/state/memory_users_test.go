package state

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Memory per tracked user and per open connection: what a state of n users
// (max_users bounds them, 100,000 by default) holds on the heap, after a
// summary has merged the pending changes into the sorted user lists, as in
// the running plugin. Run with -benchtime 1x: building the state is the
// expensive part.
//
//	go test -run '^$' -bench 'MemoryPer' -benchtime 1x ./plugins/inputs/qliksense_sessions/state/
//
// Users are LAB\user000123 (14 bytes), spread over 10 servers, one session
// each; apps are 20 GUIDs, as in the replay simulation. These are live heap
// bytes: with Go's default GOGC=100 the heap may grow to twice its live
// size between collections, so the process's RSS per user is up to about
// twice the figure (the soak test measures RSS).

const (
	memServers = 10
	memApps    = 20
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC() //nolint:revive // call-to-gc: the test measures the live heap
	runtime.GC() //nolint:revive // call-to-gc: a second cycle, see below // a second cycle frees what the first one's finalisers let go
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// summarise does what the plugin does before each summary.
func summarise(s *State) {
	c := s.TakeChanges()
	s.Summarise(c)
	s.SummariseApps(c)
}

// memFixture makes the names an n-user state needs before measuring, so
// they are not counted.
type memFixture struct {
	servers, apps, users, sessionIDs []string
}

func newMemFixture(users int) *memFixture {
	f := &memFixture{}
	for i := 0; i < memServers; i++ {
		f.servers = append(f.servers, fmt.Sprintf("SENSE%02d", i+1))
	}
	for i := 0; i < memApps; i++ {
		f.apps = append(f.apps, fmt.Sprintf("/app/%08x-0000-4000-8000-%012x?reloadUri=https://sense/hub", i, i))
	}
	for u := 0; u < users; u++ {
		f.users = append(f.users, fmt.Sprintf("user%06d", u))
		f.sessionIDs = append(f.sessionIDs, fmt.Sprintf("%08x-1111-4222-8333-%012x", u, u))
	}
	return f
}

// userShape is what each user does before the state is measured.
type userShape struct {
	name string
	// withID: the Start session names the session (log files do; log4net
	// over UDP does not).
	withID bool
	// connections each user opens, with the session's id, as log4net
	// sends them; apps is over how many different apps they spread (0:
	// the hub, no app).
	connections, apps int
}

var userShapes = []userShape{
	{name: "start"},                                    // a session, nothing else known (UDP)
	{name: "start_id", withID: true},                   // a session known by its id (log files)
	{name: "start_1conn_hub", connections: 1},          // UDP, one connection to the hub
	{name: "start_1conn_app", connections: 1, apps: 1}, // UDP, one connection to an app
	{name: "start_3conn_2apps", connections: 3, apps: 2},
}

// fill applies the shape's events for users [0, n) at now.
func (f *memFixture) fill(s *State, shape userShape, n int, now time.Time) {
	var ev event.Event
	for u := 0; u < n; u++ {
		ev = event.Event{Command: event.StartSession, Server: f.servers[u%memServers], Directory: "LAB", UserID: f.users[u]}
		if shape.withID {
			ev.SessionID = f.sessionIDs[u]
		}
		s.Apply(&ev, now)
		for c := 0; c < shape.connections; c++ {
			ev = event.Event{Command: event.OpenConnection, Server: f.servers[u%memServers], Directory: "LAB", UserID: f.users[u],
				SessionID: f.sessionIDs[u], Context: "/hub/"}
			if shape.apps > 0 {
				ev.Context = f.apps[(u+c%shape.apps)%memApps]
			}
			s.Apply(&ev, now)
		}
	}
}

// BenchmarkMemoryPerUser reports the live heap per tracked user at 10,000
// and 100,000 users (the default max_users), one session each, for several
// shapes of user.
func BenchmarkMemoryPerUser(b *testing.B) {
	for _, users := range []int{10_000, 100_000} {
		f := newMemFixture(users)
		for _, shape := range userShapes {
			b.Run(fmt.Sprintf("users=%d/%s", users, shape.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					before := liveHeap()
					s := New(Config{ReorderWindow: DefaultReorderWindow, MaxUsers: 100_000})
					f.fill(s, shape, users, time.Unix(1e9, 0))
					if s.ActiveUsers() != users || s.ActiveSessions() != users {
						b.Fatalf("%d users, %d sessions, want %d each", s.ActiveUsers(), s.ActiveSessions(), users)
					}
					unsummarised := liveHeap()
					summarise(s)
					summarised := liveHeap()
					b.ReportMetric(float64(unsummarised-before)/float64(users), "bytes/user-unsummarised")
					b.ReportMetric(float64(summarised-before)/float64(users), "bytes/user")
					runtime.KeepAlive(s)
				}
			})
		}
	}
}

// BenchmarkMemoryPerConnection reports the live heap each further open
// connection takes: 10,000 users with one session and one connection to an
// app each, then 10 more connections per session, to the same app (a
// count), to the hub (a count), or each to another app (the session and the
// user join that app).
func BenchmarkMemoryPerConnection(b *testing.B) {
	const users, more = 10_000, 10
	f := newMemFixture(users)
	base := userShape{connections: 1, apps: 1}
	for _, to := range []string{"same_app", "hub", "other_apps"} {
		b.Run(to, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				now := time.Unix(1e9, 0)
				s := New(Config{ReorderWindow: DefaultReorderWindow, MaxUsers: 100_000})
				f.fill(s, base, users, now)
				summarise(s)
				before := liveHeap()
				var ev event.Event
				for u := 0; u < users; u++ {
					for c := 1; c <= more; c++ {
						ev = event.Event{Command: event.OpenConnection, Server: f.servers[u%memServers], Directory: "LAB", UserID: f.users[u],
							SessionID: f.sessionIDs[u], Context: f.apps[u%memApps]}
						switch to {
						case "hub":
							ev.Context = "/hub/"
						case "other_apps":
							ev.Context = f.apps[(u+c)%memApps]
						}
						s.Apply(&ev, now)
					}
				}
				summarise(s)
				after := liveHeap()
				if want := users; s.ActiveSessions() != want {
					b.Fatalf("%d sessions, want %d", s.ActiveSessions(), want)
				}
				b.ReportMetric(float64(int64(after)-int64(before))/float64(users*more), "bytes/connection")
				runtime.KeepAlive(s)
			}
		})
	}
}
