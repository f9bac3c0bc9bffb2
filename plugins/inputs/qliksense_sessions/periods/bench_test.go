package periods

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// BenchmarkMemoryPerUser reports the live heap a Tracker holds per user
// it remembers for the rolling windows, their key included (the state
// drops its copy when the user leaves): users seen on one server, on two,
// and users seen on one server every day of the 30 (a user costs the same
// whatever the days: one mark per scope holds the last day). Run with
// -benchtime 1x.
func BenchmarkMemoryPerUser(b *testing.B) {
	for _, tc := range []struct {
		name          string
		servers, days int
	}{{"one server", 1, 1}, {"two servers", 2, 1}, {"30 days", 1, 30}} {
		for _, users := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%d users", tc.name, users), func(b *testing.B) {
				for range b.N {
					before := liveHeap()
					tr := New(Config{Location: time.UTC})
					at := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
					servers := [][2]string{{"sense01", "SENSE01"}, {"sense02", "SENSE02"}}
					var serverSlots [2]any
					keys := make([]string, users)
					for i := range keys {
						keys[i] = fmt.Sprintf(`lab\user%06d`, i)
					}
					for day := range tc.days {
						tr.Advance(at.Add(time.Duration(day) * 24 * time.Hour))
						for _, key := range keys {
							var userSlot any
							for s := range tc.servers {
								tr.Opened(change(servers[s], key, s == 0, &serverSlots[s], &userSlot))
							}
							for s := range tc.servers {
								tr.Closed(change(servers[s], key, s == tc.servers-1, &serverSlots[s], &userSlot))
							}
						}
					}
					if tr.Remembered() != users {
						b.Fatalf("%d users remembered, want %d", tr.Remembered(), users)
					}
					keys = nil //nolint:ineffassign,wastedassign // the Tracker's are what is measured
					b.ReportMetric(float64(liveHeap()-before)/float64(users), "bytes/user")
					runtime.KeepAlive(tr)
				}
			})
		}
	}
}

func liveHeap() uint64 {
	runtime.GC() //nolint:revive // call-to-gc: the benchmark measures the live heap
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkTransition is what the event path pays per session opened and
// closed: a user's first session on a server and its last, with its
// rolling marks, among 100,000 remembered users.
func BenchmarkTransition(b *testing.B) {
	const users = 100_000
	tr := New(Config{Location: time.UTC})
	at := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	tr.Advance(at)
	keys := make([]string, users)
	var serverSlot any
	userSlots := make([]any, users)
	server := [2]string{"sense01", "SENSE01"}
	for i := range keys {
		keys[i] = fmt.Sprintf(`lab\user%06d`, i)
		tr.Opened(change(server, keys[i], true, &serverSlot, &userSlots[i]))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		key := keys[i%users]
		tr.Advance(at)
		// The state drops its user, and the slot with it.
		tr.Closed(change(server, key, true, &serverSlot, &userSlots[i%users]))
		userSlots[i%users] = nil
		tr.Opened(change(server, key, true, &serverSlot, &userSlots[i%users]))
	}
}

// change is what the state tells of a user's one session on a server.
func change(server [2]string, user string, onSite bool, serverSlot, userSlot *any) *state.Change {
	return &state.Change{Server: server[0], ServerName: server[1], User: user, Sessions: 1, OnServer: true, OnSite: onSite,
		ServerSlot: serverSlot, UserSlot: userSlot}
}
