package state

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// The index of a pair's known sessions (index.go): lookups that cost the
// same at any number of sessions, and nothing else changed.

// With many known sessions, finding one by its id, and telling that none
// is unsure, take the index's word: neither looks at each session, so an
// event costs the same however many sessions the pair has. (The records are
// changed behind the index's back here, which a look at them would see.)
func TestLookupsOfManySessionsDoNotScan(t *testing.T) {
	s := New(Config{ReorderWindow: DefaultReorderWindow})
	const n = 1000
	for i := range n {
		ev := event.Event{Server: "SENSE1", Command: open, Directory: "LAB", UserID: "anna", SessionID: fmt.Sprintf("id%04d", i)}
		require.Equal(t, Changed, s.Apply(&ev, t0), "connection %d", i)
	}
	_, us := s.lookup("SENSE1", "LAB", "anna")
	d := us.detail
	require.Len(t, d.known, n)

	d.known[0].id, d.known[n-1].id = d.known[n-1].id, d.known[0].id
	require.Equal(t, 0, d.find("id0000"), "find looked at the sessions one by one")
	d.known[0].id, d.known[n-1].id = d.known[n-1].id, d.known[0].id

	d.known[n/2].unsure = true
	require.Equal(t, -1, d.unsureRecord(), "unsureRecord looked at the sessions one by one, though none is unsure")
}

// checkIndexes fails unless every pair's index is exact: it names each
// known session at its place, counts those unsure, and exists from
// indexFrom known sessions on.
func checkIndexes(t *testing.T, s *State, what string) {
	t.Helper()
	for _, srv := range s.servers {
		for _, us := range srv.users {
			if us.detail != nil {
				checkIndex(t, us.detail, fmt.Sprintf("%s: %s on %s", what, us.user.name, srv.name))
			}
		}
	}
}

// checkIndex fails unless d's index is exact: it names each known session
// at its place and counts those unsure, and d has one from indexFrom known
// sessions on.
func checkIndex(t *testing.T, d *pairDetail, what string) {
	t.Helper()
	if len(d.known) >= indexFrom {
		require.NotNil(t, d.index, "%s: %d known sessions without an index", what, len(d.known))
	}
	if d.index == nil {
		return
	}
	unsure := 0
	for i, k := range d.known {
		require.Equal(t, i, d.index.at[k.id], "%s: the index misplaces %q", what, k.id)
		if k.unsure {
			unsure++
		}
	}
	require.Len(t, d.index.at, len(d.known), "%s: the index names sessions that are gone", what)
	require.Equal(t, unsure, d.index.unsure, "%s: unsure sessions", what)
}

// Every change of a pair's known sessions keeps its index exact, and find
// and unsureRecord answer as a look at each session does.
func TestPairIndexFollowsEveryChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	d := &pairDetail{}
	next := 0
	for op := range 20_000 {
		var what string
		switch r := rng.IntN(100); {
		case r < 45 || len(d.known) == 0:
			k := knownSession{id: fmt.Sprintf("s%d", next), unsure: rng.IntN(4) == 0, connections: rng.IntN(2)}
			next++
			d.addKnown(k)
			what = "add " + k.id
		case r < 80:
			i := rng.IntN(len(d.known))
			what = "delete " + d.known[i].id
			d.deleteKnown(i)
		case r < 95:
			i := rng.IntN(len(d.known))
			what = "unsure " + d.known[i].id
			d.setUnsure(i, rng.IntN(2) == 0)
		case r < 99:
			n := rng.IntN(len(d.known) + 1)
			what = fmt.Sprintf("keep %d of %d", n, len(d.known))
			d.keepKnown(n)
		default:
			what = "forget all"
			d.forgetKnown()
		}
		what = fmt.Sprintf("op %d (%s)", op, what)
		checkIndex(t, d, what)
		for i, k := range d.known {
			require.Equal(t, i, d.find(k.id), what)
		}
		require.Equal(t, -1, d.find(fmt.Sprintf("s%d", next)), what)
		want := -1
		for i := len(d.known) - 1; i >= 0; i-- {
			if d.known[i].unsure && (want < 0 || d.known[want].connections > 0 || d.known[i].connections == 0) {
				want = i
			}
		}
		require.Equal(t, want, d.unsureRecord(), what)
	}
}

// indexTraffic is random traffic of a few users with many sessions each,
// with and without ids, reordered, reconciled and expired now and then, so
// that every path that changes a pair's known sessions runs.
type indexStep struct {
	ev        event.Event
	at        time.Time
	reconcile []APISession // when set, a reconciliation of ev.Server instead of an event
	expire    bool         // an Expire at at instead of an event
}

func indexTraffic(seed uint64, n int) []indexStep {
	rng := rand.New(rand.NewPCG(seed, 7))
	users := []string{"anna", "bob", "carl"}
	servers := []string{"SENSE1", "SENSE2"}
	cmds := []event.Command{start, start, stop, stop, open, open, open, closeConn, closeConn}
	steps := make([]indexStep, 0, n)
	now := t0
	for range n {
		now = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		server := servers[rng.IntN(len(servers))]
		switch r := rng.IntN(1000); {
		case r < 3:
			n := rng.IntN(40)
			answer := make([]APISession, 0, n) // not nil: a reconciliation, maybe with an empty answer
			for range n {
				answer = append(answer, APISession{Directory: "LAB", UserID: users[rng.IntN(len(users))]})
			}
			steps = append(steps, indexStep{ev: event.Event{Server: server}, at: now, reconcile: answer})
			continue
		case r < 5:
			steps = append(steps, indexStep{at: now, expire: true})
			continue
		}
		ev := event.Event{Server: server, Command: cmds[rng.IntN(len(cmds))], Directory: "LAB", UserID: users[rng.IntN(len(users))]}
		if rng.IntN(2) > 0 {
			ev.SessionID = fmt.Sprintf("s%02d", rng.IntN(40))
		}
		if ev.Command == open || ev.Command == closeConn {
			ev.Context = fmt.Sprintf("/app/%08x-0000-4000-8000-%012x", rng.IntN(3), 0)
		}
		steps = append(steps, indexStep{ev: ev, at: now})
	}
	return steps
}

// observed is everything the state shows after a step.
type observed struct {
	outcome  Outcome
	duration time.Duration
	records  []Record
	counters Counters
	apps     int
}

func runIndexTraffic(t *testing.T, steps []indexStep, check bool) []observed {
	t.Helper()
	s := New(Config{ReorderWindow: DefaultReorderWindow})
	out := make([]observed, 0, len(steps))
	for i, st := range steps {
		var o observed
		switch {
		case st.reconcile != nil:
			s.BeginReconcile(st.ev.Server)
			s.Reconcile(st.ev.Server, st.reconcile, st.at)
		case st.expire:
			s.Expire(st.at.Add(-30 * time.Second))
		default:
			ev := st.ev
			o.outcome = s.Apply(&ev, st.at)
			o.duration = ev.Duration
		}
		s.Sweep(st.at)
		o.records, o.counters, o.apps = s.Records(), s.Counters(), s.Apps()
		out = append(out, o)
		if check {
			checkIndexes(t, s, fmt.Sprintf("step %d (%+v)", i, st.ev))
		}
	}
	return out
}

// The index changes nothing the state shows: the same traffic gives the
// same outcomes, durations, records, counters and apps after every step
// with no index at all (the state before indexes), with the usual one, and
// with an index on every pair; and every index stays exact.
func TestIndexChangesNothing(t *testing.T) {
	defer func(from int) { indexFrom = from }(indexFrom)
	for seed := range uint64(3) {
		steps := indexTraffic(seed, 2000)
		indexFrom = math.MaxInt
		want := runIndexTraffic(t, steps, false)
		maxKnown := 0
		for _, o := range want {
			for _, r := range o.records {
				maxKnown = max(maxKnown, len(r.Known))
			}
		}
		require.Greater(t, maxKnown, 8, "seed %d: the traffic never made a pair know enough sessions for an index", seed)
		for _, from := range []int{8, 2} {
			indexFrom = from
			got := runIndexTraffic(t, steps, true)
			for i := range want {
				require.Equal(t, want[i], got[i], "seed %d, index from %d: step %d (%+v)", seed, from, i, steps[i].ev)
			}
		}
	}
}

// BenchmarkConnectionOfManySessions is a connection opened and closed by a
// session of a user who has sessions=n of them on the server, each known by
// its id: the same cost at any n.
func BenchmarkConnectionOfManySessions(b *testing.B) {
	for _, n := range []int{1, 3, 10, 100, 1000, 10_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			s := New(Config{ReorderWindow: DefaultReorderWindow})
			events := make([]event.Event, 0, 2*n)
			for i := range n {
				id := fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i)
				ev := event.Event{Server: "SENSE1", Command: start, Directory: "LAB", UserID: "anna", SessionID: id}
				s.Apply(&ev, t0)
				ev.Command, ev.Context = open, "/hub/"
				events = append(events, ev)
				ev.Command = closeConn
				events = append(events, ev)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			order := make([]int, 4096)
			for i := range order {
				order[i] = rng.IntN(n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := order[i%len(order)]
				s.Apply(&events[2*k], t0)
				s.Apply(&events[2*k+1], t0)
			}
			b.StopTimer()
			if s.ActiveSessions() != n {
				b.Fatalf("%d sessions, want %d", s.ActiveSessions(), n)
			}
		})
	}
}

// BenchmarkNewSessionOfManySessions is a connection proving a session not
// known yet, then its Stop, by a user with sessions=n other sessions, as a
// sender that makes ids up sends them: the same cost at any n.
func BenchmarkNewSessionOfManySessions(b *testing.B) {
	for _, n := range []int{1, 3, 10, 100, 1000, 10_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			s := New(Config{ReorderWindow: DefaultReorderWindow})
			for i := range n {
				ev := event.Event{Server: "SENSE1", Command: open, Directory: "LAB", UserID: "anna", SessionID: fmt.Sprintf("old%08d", i)}
				s.Apply(&ev, t0)
			}
			const ring = 4096
			events := make([]event.Event, 0, 2*ring)
			for i := range ring {
				ev := event.Event{Server: "SENSE1", Command: open, Directory: "LAB", UserID: "anna", SessionID: fmt.Sprintf("new%08d", i)}
				events = append(events, ev)
				ev.Command = stop
				events = append(events, ev)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % ring
				s.Apply(&events[2*k], t0)
				s.Apply(&events[2*k+1], t0)
			}
			b.StopTimer()
			if s.ActiveSessions() != n {
				b.Fatalf("%d sessions, want %d", s.ActiveSessions(), n)
			}
		})
	}
}
