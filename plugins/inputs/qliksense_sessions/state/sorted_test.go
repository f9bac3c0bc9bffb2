package state

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// TestSummariseOutsideTheLock runs Summarise alongside Apply, as the plugin
// does (TakeChanges under its lock, Summarise after it), and checks under
// the race detector that they share nothing and that every summary equals
// a Snapshot of a twin state fed the same events up to its TakeChanges.
func TestSummariseOutsideTheLock(t *testing.T) {
	var mu sync.Mutex
	s, twin := New(Config{}), New(Config{})
	type taken struct {
		changes      Changes
		site         Summary
		servers      []Summary
		eventsBefore int
	}
	takes := make(chan taken)
	done := make(chan struct{})
	var checked []taken
	go func() {
		defer close(done)
		for tk := range takes {
			tk.site, tk.servers = s.Summarise(tk.changes)
			checked = append(checked, tk)
		}
	}()

	rng := rand.New(rand.NewPCG(7, 7))
	events := make([]event.Event, 20_000)
	for i := range events {
		cmd := event.StartSession
		if rng.IntN(2) == 0 {
			cmd = event.StopSession
		}
		events[i] = event.Event{Server: fmt.Sprintf("SENSE%d", rng.IntN(3)), Command: cmd, Directory: "LAB", UserID: fmt.Sprintf("u%03d", rng.IntN(300))}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the intake
		defer wg.Done()
		for i := range events {
			ev := events[i]
			mu.Lock()
			s.Apply(&ev, t0)
			mu.Unlock()
		}
	}()
	applied := func() int { // how many events s has seen: its generation
		return int(s.generation)
	}
	for range 200 {
		mu.Lock()
		tk := taken{changes: s.TakeChanges(), eventsBefore: applied()}
		mu.Unlock()
		takes <- tk
	}
	wg.Wait()
	mu.Lock()
	takes <- taken{changes: s.TakeChanges(), eventsBefore: applied()}
	mu.Unlock()
	close(takes)
	<-done

	fed := 0
	for i, tk := range checked {
		for ; fed < tk.eventsBefore; fed++ {
			ev := events[fed]
			twin.Apply(&ev, t0)
		}
		wantSite, wantServers := twin.Snapshot()
		require.Equal(t, wantSite, tk.site, "summary %d, after %d events", i, tk.eventsBefore)
		require.Equal(t, wantServers, tk.servers, "summary %d, after %d events", i, tk.eventsBefore)
	}
	require.Equal(t, len(events), fed)
}
