package state

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// changedOnly is a summary of what changed: the site, the servers and the
// apps.
func changedOnly(s *State) (site Summary, servers, apps []Summary) {
	changes := s.TakeChanges().ChangedOnly()
	site, servers = s.Summarise(changes)
	return site, servers, s.SummariseApps(changes)
}

// TestChangedOnly: a summary of what changed holds a server or app whose
// counts or user list changed since the previous summary, whatever summary
// that was, and a final zero; a list is compared as a whole when its
// change log overflowed; a user back under another spelling is a change.
func TestChangedOnly(t *testing.T) {
	for _, overflow := range []bool{false, true} {
		t.Run(map[bool]string{false: "change logs", true: "overflowed change logs"}[overflow], func(t *testing.T) {
			if overflow {
				limitChangeLog(t, 0)
			}
			s := New(Config{})
			do := func(server string, cmd event.Command, dir, user, app string) {
				ev := event.Event{Server: server, Command: cmd, Directory: dir, UserID: user, Context: "/hub/"}
				if app != "" {
					ev.Context = "/app/" + app
				}
				s.Apply(&ev, t0)
			}
			do("SENSE1", start, "LAB", "anna", "")
			do("SENSE1", open, "LAB", "anna", salesApp)
			do("SENSE2", start, "LAB", "bob", "")
			do("SENSE2", open, "LAB", "bob", financeApp)
			site, servers, apps := changedOnly(s)
			require.Equal(t, Summary{ActiveUsers: 2, ActiveSessions: 2, Users: users(`LAB\anna`, `LAB\bob`)}, site)
			require.Equal(t, []Summary{
				{Server: "SENSE1", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\anna`)},
				{Server: "SENSE2", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\bob`)},
			}, servers, "new servers are changes")
			require.Len(t, apps, 2, "new apps are changes")

			// Out and back in, same spelling: no change, but for the app
			// that bob's Stop closed: a final zero.
			do("SENSE1", closeConn, "LAB", "anna", salesApp)
			do("SENSE1", open, "LAB", "anna", salesApp)
			do("SENSE2", stop, "LAB", "bob", "")
			do("SENSE2", start, "LAB", "bob", "")
			_, servers, apps = changedOnly(s)
			require.Empty(t, servers)
			require.Equal(t, []Summary{{App: financeApp, Users: users()}}, apps)

			// Back under another spelling: a change of the list.
			do("SENSE2", stop, "LAB", "bob", "")
			do("SENSE2", start, "LAB", "Bob", "")
			site, servers, apps = changedOnly(s)
			require.Equal(t, users(`LAB\anna`, `LAB\Bob`), site.Users)
			require.Equal(t, []Summary{{Server: "SENSE2", ActiveUsers: 1, ActiveSessions: 1, Users: users(`LAB\Bob`)}}, servers)
			require.Empty(t, apps)

			// A summary of everything in between does not hide a change
			// from the next summary of what changed: a consumer may take
			// only those.
			do("SENSE1", open, "LAB", "anna", salesApp)
			changes := s.TakeChanges()
			_, servers = s.Summarise(changes)
			require.Len(t, servers, 2)
			sales := Summary{App: salesApp, ActiveUsers: 1, ActiveConnections: 2, Users: users(`LAB\anna`)}
			require.Equal(t, []Summary{sales}, s.SummariseApps(changes))
			_, servers, apps = changedOnly(s)
			require.Empty(t, servers)
			require.Equal(t, []Summary{sales}, apps)
			_, servers, apps = changedOnly(s)
			require.Empty(t, servers)
			require.Empty(t, apps)

			// A final zero, once.
			do("SENSE1", stop, "LAB", "anna", "")
			_, servers, apps = changedOnly(s)
			require.Equal(t, []Summary{zero("SENSE1")}, servers)
			require.Equal(t, []Summary{{App: salesApp, Users: users()}}, apps)
			_, servers, apps = changedOnly(s)
			require.Empty(t, servers)
			require.Empty(t, apps)
		})
	}
}

// TestChangedOnlyKeepsTheConsumersPicture: on random traffic, with
// summaries of what changed and now and then one of everything, two
// consumers that keep the last value of each server and app (dropping it at
// a final zero) see what a twin state's summary of everything says: one
// takes every summary, after each; the other only the summaries of what
// changed and the final zeros of the others (as the MQTT example does),
// after each summary of what changed. And a summary of what changed holds
// only servers and apps that changed since the previous one (at a summary
// in between, or since the last).
func TestChangedOnlyKeepsTheConsumersPicture(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 22))
	s, twin := New(Config{}), New(Config{})
	type picture map[string]Summary
	every, onChange := picture{}, picture{}
	commands := []event.Command{start, stop, open, open, closeConn}
	isZero := func(s Summary) bool { return s.ActiveUsers == 0 && s.ActiveSessions == 0 && s.ActiveConnections == 0 }
	keep := func(p picture, got Summary) {
		if isZero(got) {
			delete(p, got.Server+got.App)
			return
		}
		p[got.Server+got.App] = got
	}
	values := func(p picture) []Summary {
		out := make([]Summary, 0, len(p))
		for _, v := range p {
			out = append(out, v)
		}
		slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Server+a.App, b.Server+b.App) })
		return out
	}
	changeSummaries := 0
	changedSince := map[string]bool{} // keys whose value changed at a summary since the last of what changed
	for step := range 3000 {
		for range rng.IntN(6) {
			ev := event.Event{
				Server:  fmt.Sprintf("SENSE%d", rng.IntN(3)),
				Command: commands[rng.IntN(len(commands))], Directory: "LAB", UserID: fmt.Sprintf("user%d", rng.IntN(12)),
				Context: fmt.Sprintf("/app/00000000-0000-4000-8000-%012d", rng.IntN(5)),
			}
			twinEv := ev
			s.Apply(&ev, t0)
			twin.Apply(&twinEv, t0)
		}
		changes := s.TakeChanges()
		full := rng.IntN(4) == 0
		if !full {
			changes = changes.ChangedOnly()
			changeSummaries++
		}
		site, gotServers := s.Summarise(changes)
		got := append(gotServers, s.SummariseApps(changes)...)
		twinChanges := twin.TakeChanges()
		wantSite, wantServers := twin.Summarise(twinChanges)
		var want []Summary
		for _, w := range append(wantServers, twin.SummariseApps(twinChanges)...) {
			if !isZero(w) {
				want = append(want, w)
			}
		}
		slices.SortFunc(want, func(a, b Summary) int { return strings.Compare(a.Server+a.App, b.Server+b.App) })
		require.Equal(t, wantSite, site, "step %d", step)
		for _, g := range got {
			key := g.Server + g.App
			last, inEvery := every[key]
			if !inEvery || !reflect.DeepEqual(last, g) {
				changedSince[key] = true
			}
			if !full {
				lastOnChange, inOnChange := onChange[key]
				require.True(t, isZero(g) || !inOnChange || !reflect.DeepEqual(lastOnChange, g) || changedSince[key],
					"step %d: %+v unchanged since the last summary of what changed", step, g)
			}
			keep(every, g)
			if !full || isZero(g) {
				keep(onChange, g)
			}
		}
		if !full {
			clear(changedSince)
		}
		require.Equal(t, want, values(every), "step %d: every summary", step)
		if !full {
			require.Equal(t, want, values(onChange), "step %d: the summaries of what changed", step)
		}
	}
	require.Greater(t, changeSummaries, 2000)
}

// TestSummariesInCaseInsensitiveOrder: servers and apps come in the order
// of their names in lower case (strings.ToLower), which sorting by their
// case-folded keys gives.
func TestSummariesInCaseInsensitiveOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	letters := []rune("aAbBzZ09-_.ÄäÖöéÉ")
	name := func() string {
		r := make([]rune, 1+rng.IntN(6))
		for i := range r {
			r[i] = letters[rng.IntN(len(letters))]
		}
		return string(r)
	}
	s := New(Config{})
	for i := range 300 {
		ev := event.Event{Server: name(), Command: open, Directory: "LAB", UserID: fmt.Sprintf("u%d", i),
			Context: fmt.Sprintf("/app/%08X-0000-4000-8000-%012x", rng.Uint32(), i)}
		s.Apply(&ev, t0)
	}
	changes := s.TakeChanges()
	_, servers := s.Summarise(changes)
	apps := s.SummariseApps(changes)
	require.Greater(t, len(servers), 100)
	require.Len(t, apps, 300)
	require.True(t, slices.IsSortedFunc(servers, func(a, b Summary) int {
		return strings.Compare(strings.ToLower(a.Server), strings.ToLower(b.Server))
	}), "servers in order")
	require.True(t, slices.IsSortedFunc(apps, func(a, b Summary) int { return strings.Compare(strings.ToLower(a.App), strings.ToLower(b.App)) }),
		"apps in order")
}

// BenchmarkSummariseApps is the summaries of a site of 5,000 users on 4
// servers with connections to 6,500 apps, after one connection opened or
// closed since the previous summary: a gather's (everything, the apps
// sorted) and a change summary's (what changed). locked-µs is the part
// done under the caller's lock (TakeChanges).
func BenchmarkSummariseApps(b *testing.B) {
	for _, bench := range []struct {
		name        string
		changedOnly bool
	}{{"gather", false}, {"change", true}} {
		b.Run(bench.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			const users, apps = 5000, 6500
			app := func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), i) }
			ids := make([]string, apps)
			for i := range ids {
				ids[i] = app(i)
			}
			s := New(Config{})
			do := func(cmd event.Command, user int, app string) {
				ev := event.Event{Server: fmt.Sprintf("SENSE%d", user%4), Command: cmd, Directory: "LAB",
					UserID: fmt.Sprintf("user%05d", user), Context: "/app/" + app}
				s.Apply(&ev, t0)
			}
			for i, id := range ids {
				do(open, i%users, id)
				do(open, rng.IntN(users), id)
			}
			summarise := func() {
				changes := s.TakeChanges()
				if bench.changedOnly {
					changes = changes.ChangedOnly()
				}
				s.Summarise(changes)
				s.SummariseApps(changes)
			}
			summarise()
			var locked time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cmd := open
				if i%2 == 1 {
					cmd = closeConn
				}
				do(cmd, 7, ids[i/2%apps])
				taken := time.Now()
				changes := s.TakeChanges()
				locked += time.Since(taken)
				if bench.changedOnly {
					changes = changes.ChangedOnly()
				}
				s.Summarise(changes)
				s.SummariseApps(changes)
			}
			b.ReportMetric(float64(locked.Microseconds())/float64(b.N), "locked-µs/op")
		})
	}
}

// limitChangeLog makes every change log hold at most n changes until the
// test ends, so that the lists are sent whole.
func limitChangeLog(t *testing.T, n int) {
	t.Helper()
	normal := changeLogLimit
	changeLogLimit = func(int) int { return n }
	t.Cleanup(func() { changeLogLimit = normal })
}
