package state

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// BenchmarkMillionSessions holds 1,000,000 open sessions (100,000 users,
// each on all of 10 servers) and reports the heap they take per session and
// what a summary costs at that size. Run with -benchtime 1x: building the
// state is the expensive part.
func BenchmarkMillionSessions(b *testing.B) {
	const users, servers = 100_000, 10
	heap := func() uint64 {
		runtime.GC() //nolint:revive // call-to-gc: the benchmark measures the live heap
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for i := 0; i < b.N; i++ {
		before := heap()
		s := New(Config{})
		now := time.Now()
		ev := event.Event{Command: event.StartSession, Directory: "LAB"}
		serverNames := make([]string, servers)
		for j := range serverNames {
			serverNames[j] = fmt.Sprintf("SENSE%02d", j)
		}
		for u := 0; u < users; u++ {
			ev.UserID = fmt.Sprintf("user%06d", u)
			for _, name := range serverNames {
				ev.Server = name
				s.Apply(&ev, now)
			}
		}
		if s.ActiveSessions() != users*servers {
			b.Fatalf("%d sessions, want %d", s.ActiveSessions(), users*servers)
		}
		// Before the first summary the state also holds the changes that
		// summary will merge; after it, the sorted user lists.
		filled := heap()

		start := time.Now()
		site, perServer := s.Snapshot()
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/summary")
		if site.ActiveUsers != users || len(perServer) != servers {
			b.Fatalf("summary has %d users on %d servers", site.ActiveUsers, len(perServer))
		}
		site, perServer = Summary{}, nil //nolint:ineffassign,wastedassign // dropped so that the summary can be collected
		summarised := heap()
		b.ReportMetric(float64(filled-before)/float64(users*servers), "bytes/session-unsummarised")
		b.ReportMetric(float64(summarised-before)/float64(users*servers), "bytes/session")
		runtime.KeepAlive(s)
	}
}
