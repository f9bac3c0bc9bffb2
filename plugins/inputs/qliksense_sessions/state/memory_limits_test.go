package state

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// BenchmarkMemoryPerUserAtTheLimits reports the live heap a user takes at
// the default max_user_sessions: 100 sessions, each known by an id of
// MaxSessionIDLength bytes and with a connection (to an app, or to the
// hub), as a sender that makes ids up can make any user hold; 1,000 users,
// after a summary. Run with -benchtime 1x.
//
//	go test -run '^$' -bench MemoryPerUserAtTheLimits -benchtime 1x ./plugins/inputs/qliksense_sessions/state/
func BenchmarkMemoryPerUserAtTheLimits(b *testing.B) {
	const users = 1000
	for _, context := range []string{"/hub/", "/app/00000000-0000-4000-8000-000000000001"} {
		b.Run(strings.Trim(context[:4], "/"), func(b *testing.B) {
			f := newMemFixture(users)
			ids := make([]string, DefaultMaxUserSessions)
			for i := range ids {
				ids[i] = fmt.Sprintf("%04d", i) + strings.Repeat("f", MaxSessionIDLength-4)
			}
			for i := 0; i < b.N; i++ {
				before := liveHeap()
				s := New(Config{ReorderWindow: DefaultReorderWindow, MaxUsers: 100_000, MaxUserSessions: DefaultMaxUserSessions})
				now := time.Unix(1e9, 0)
				for u := range users {
					for _, id := range ids {
						ev := event.Event{Command: event.OpenConnection, Server: f.servers[u%memServers], Directory: "LAB", UserID: f.users[u],
							SessionID: id, Context: context}
						s.Apply(&ev, now)
					}
				}
				if s.ActiveSessions() != users*DefaultMaxUserSessions {
					b.Fatalf("%d sessions, want %d", s.ActiveSessions(), users*DefaultMaxUserSessions)
				}
				summarise(s)
				after := liveHeap()
				b.ReportMetric(float64(after-before)/users, "bytes/user")
				b.ReportMetric(float64(after-before)/(users*DefaultMaxUserSessions), "bytes/session")
				runtime.KeepAlive(s)
			}
		})
	}
}
