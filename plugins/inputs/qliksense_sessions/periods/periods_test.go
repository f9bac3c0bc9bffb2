package periods

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// site is a state observed by a Tracker, driven by events at given times,
// as the pipeline drives them.
type site struct {
	t     *testing.T
	state *state.State
	tr    *Tracker
}

func newSite(t *testing.T, loc *time.Location) *site {
	s := &site{t: t, state: state.New(state.Config{}), tr: New(Config{Location: loc, MaxUsers: 1000})}
	s.state.Observe(s.tr)
	return s
}

const app1 = "11111111-2222-3333-4444-555555555555"

// do applies an event: "start", "stop", "open" (a connection to app1),
// "close", for user on server with a session id, at at.
func (s *site) do(at time.Time, cmd, server, user, session string) {
	s.t.Helper()
	commands := map[string]event.Command{"start": event.StartSession, "stop": event.StopSession,
		"open": event.OpenConnection, "close": event.CloseConnection}
	ev := event.Event{Command: commands[cmd], Server: server, Directory: "LAB", UserID: user, SessionID: session, Context: "/app/" + app1}
	require.NotZero(s.t, ev.Command, cmd)
	s.tr.Advance(at)
	s.state.Apply(&ev, at)
}

func utc(layout string) time.Time {
	at, err := time.Parse(time.RFC3339, layout)
	if err != nil {
		panic(err)
	}
	return at
}

//nolint:revive // argument-limit: a point, field by field, as the tests read it
func site1(kind Kind, start string, peakUsers, peakSessions int, peakAt string, distinct, started int, complete bool) Point {
	return Point{Kind: kind, Start: utc(start), PeakUsers: peakUsers, PeakSessions: peakSessions, PeakAt: utc(peakAt),
		Distinct: distinct, Started: started, Complete: complete}
}

func onServer(p Point, server string) Point { p.Server = server; return p }

// normalised makes points comparable: times in UTC.
func normalised(points []Point) []Point {
	for i := range points {
		points[i].Start, points[i].PeakAt = points[i].Start.UTC(), points[i].PeakAt.UTC()
	}
	return points
}

func TestHourRollover(t *testing.T) {
	s := newSite(t, time.UTC)
	s.do(utc("2026-05-04T10:05:00Z"), "start", "a", "ann", "s1")
	s.do(utc("2026-05-04T10:10:00Z"), "start", "a", "bob", "s2")
	s.do(utc("2026-05-04T10:20:00Z"), "start", "b", "bob", "s3")
	s.do(utc("2026-05-04T10:30:00Z"), "stop", "a", "bob", "s2")
	s.do(utc("2026-05-04T10:40:00Z"), "start", "a", "bob", "s4") // back: no second count
	s.do(utc("2026-05-04T10:50:00Z"), "stop", "a", "ann", "s1")
	require.False(t, s.tr.HasFinals())

	// Open at 11:00: ann is gone, bob active on both servers.
	s.do(utc("2026-05-04T11:15:00Z"), "start", "a", "cid", "s5")
	require.True(t, s.tr.HasFinals())
	require.Equal(t, []Point{
		site1(Hour, "2026-05-04T10:00:00Z", 2, 3, "2026-05-04T10:10:00Z", 2, 4, true),
		onServer(site1(Hour, "2026-05-04T10:00:00Z", 2, 2, "2026-05-04T10:10:00Z", 2, 3, true), "a"),
		onServer(site1(Hour, "2026-05-04T10:00:00Z", 1, 1, "2026-05-04T10:20:00Z", 1, 1, true), "b"),
	}, normalised(s.tr.TakeFinals()))
	require.False(t, s.tr.HasFinals())

	require.Equal(t, []Point{
		site1(Hour, "2026-05-04T11:00:00Z", 2, 3, "2026-05-04T11:15:00Z", 2, 1, false),
		onServer(site1(Hour, "2026-05-04T11:00:00Z", 2, 2, "2026-05-04T11:15:00Z", 2, 1, false), "a"),
		onServer(site1(Hour, "2026-05-04T11:00:00Z", 1, 1, "2026-05-04T11:00:00Z", 1, 0, false), "b"),
		site1(Day, "2026-05-04T00:00:00Z", 2, 3, "2026-05-04T10:10:00Z", 3, 5, false),
		onServer(site1(Day, "2026-05-04T00:00:00Z", 2, 2, "2026-05-04T10:10:00Z", 3, 4, false), "a"),
		onServer(site1(Day, "2026-05-04T00:00:00Z", 1, 1, "2026-05-04T10:20:00Z", 1, 1, false), "b"),
	}, normalised(s.tr.Current(nil)))
}

func TestDayRolloverAndRolling(t *testing.T) {
	s := newSite(t, time.UTC)
	s.do(utc("2026-05-04T23:00:00Z"), "start", "a", "ann", "s1")
	s.do(utc("2026-05-04T23:10:00Z"), "start", "a", "bob", "s2")
	s.do(utc("2026-05-04T23:20:00Z"), "stop", "a", "bob", "s2")
	// The gather after midnight ends the hour and the day.
	s.tr.Advance(utc("2026-05-05T00:00:10Z"))
	require.Equal(t, []Point{
		site1(Hour, "2026-05-04T23:00:00Z", 2, 2, "2026-05-04T23:10:00Z", 2, 2, true),
		onServer(site1(Hour, "2026-05-04T23:00:00Z", 2, 2, "2026-05-04T23:10:00Z", 2, 2, true), "a"),
		site1(Day, "2026-05-04T00:00:00Z", 2, 2, "2026-05-04T23:10:00Z", 2, 2, true),
		onServer(site1(Day, "2026-05-04T00:00:00Z", 2, 2, "2026-05-04T23:10:00Z", 2, 2, true), "a"),
	}, normalised(s.tr.TakeFinals()))
	// ann, active over midnight, counts in the new day at once.
	require.Equal(t, []Point{
		site1(Hour, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false),
		onServer(site1(Hour, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false), "a"),
		site1(Day, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false),
		onServer(site1(Day, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false), "a"),
	}, normalised(s.tr.Current(nil)))
	require.Equal(t, []Rolling{{Distinct7: 2, Distinct30: 2}, {Server: "a", Distinct7: 2, Distinct30: 2}}, s.tr.Rolling(nil))

	// Seven days later bob is out of the 7 days, still in the 30.
	s.do(utc("2026-05-11T09:00:00Z"), "start", "b", "cid", "s3")
	s.tr.TakeFinals()
	require.Equal(t, []Rolling{{Distinct7: 2, Distinct30: 3}, {Server: "a", Distinct7: 1, Distinct30: 2}, {Server: "b", Distinct7: 1, Distinct30: 1}},
		s.tr.Rolling(nil))
	// 30 days after 4 May bob is gone, and forgotten.
	s.do(utc("2026-06-03T09:00:00Z"), "stop", "a", "ann", "s1")
	s.tr.TakeFinals()
	require.Equal(t, []Rolling{{Distinct7: 2, Distinct30: 2}, {Server: "a", Distinct7: 1, Distinct30: 1}, {Server: "b", Distinct7: 1, Distinct30: 1}},
		s.tr.Rolling(nil))
	require.Equal(t, 2, s.tr.Remembered())
}

func TestAppDays(t *testing.T) {
	s := newSite(t, time.UTC)
	s.do(utc("2026-05-04T09:00:00Z"), "start", "a", "ann", "s1")
	s.do(utc("2026-05-04T09:01:00Z"), "open", "a", "ann", "s1")
	s.do(utc("2026-05-04T09:02:00Z"), "start", "a", "bob", "s2")
	s.do(utc("2026-05-04T09:03:00Z"), "open", "a", "bob", "s2")
	s.do(utc("2026-05-04T09:04:00Z"), "close", "a", "bob", "s2")
	s.do(utc("2026-05-04T09:05:00Z"), "open", "a", "bob", "s2")
	points := normalised(s.tr.Current(nil))
	require.Equal(t, Point{Kind: Day, App: app1, Start: utc("2026-05-04T00:00:00Z"), PeakUsers: 2, PeakAt: utc("2026-05-04T09:03:00Z"),
		Distinct: 2}, points[len(points)-1])
}

func TestDST(t *testing.T) {
	stockholm, err := time.LoadLocation("Europe/Stockholm")
	require.NoError(t, err)
	for _, tc := range []struct {
		name           string
		day, next      string // midnight, local, in UTC
		hours          int
		repeatedOrLost string // the hour after 01:00 local, in UTC
	}{
		{"spring, 23 hours", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23, "2026-03-29T01:00:00Z"},
		{"autumn, 25 hours", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", 25, "2026-10-25T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, stockholm)
			day := utc(tc.day)
			s.do(day.Add(time.Minute), "start", "a", "ann", "s1")
			var starts []time.Time
			for at := day.Add(30 * time.Minute); !at.After(utc(tc.next).Add(time.Hour)); at = at.Add(30 * time.Minute) {
				s.tr.Advance(at)
				for _, p := range s.tr.TakeFinals() {
					if p.Kind == Hour && p.Server == "" {
						starts = append(starts, p.Start.UTC())
					}
					if p.Kind == Day && p.Server == "" {
						require.Equal(t, day, p.Start.UTC(), "the day's start")
					}
				}
			}
			require.Len(t, starts, tc.hours+1, "the day's hours and the next day's first")
			for i := 1; i < len(starts); i++ {
				require.Equal(t, time.Hour, starts[i].Sub(starts[i-1]), "hour %d", i)
			}
			require.Equal(t, utc(tc.repeatedOrLost), starts[2])
			require.Equal(t, utc(tc.next), starts[tc.hours])
			require.Equal(t, utc(tc.next), s.tr.dayStart.UTC())
		})
	}
}

func TestClockStepsBack(t *testing.T) {
	s := newSite(t, time.UTC)
	s.do(utc("2026-05-04T10:50:00Z"), "start", "a", "ann", "s1")
	s.do(utc("2026-05-04T11:05:00Z"), "start", "a", "bob", "s2")
	s.tr.TakeFinals()
	// The clock steps back into the ended hour: the events count in the
	// open one, at its latest time; no period reopens.
	s.do(utc("2026-05-04T10:55:00Z"), "start", "a", "cid", "s3")
	s.do(utc("2026-05-04T09:00:00Z"), "stop", "a", "bob", "s2")
	require.False(t, s.tr.HasFinals())
	require.Equal(t, utc("2026-05-04T11:05:00Z"), s.tr.Now())
	points := normalised(s.tr.Current(nil))
	require.Equal(t, site1(Hour, "2026-05-04T11:00:00Z", 3, 3, "2026-05-04T11:05:00Z", 3, 2, false), points[0])
	// The clock comes back: the hour ends once.
	s.tr.Advance(utc("2026-05-04T12:00:00Z"))
	finals := s.tr.TakeFinals()
	require.Len(t, finals, 2) // site and server a
	require.Equal(t, utc("2026-05-04T11:00:00Z"), finals[0].Start.UTC())
}

// TestLongGap: a clock that jumps by more than the 31 days ends the open
// periods and opens the new ones, with no points for those in between.
func TestLongGap(t *testing.T) {
	s := newSite(t, time.UTC)
	s.do(utc("2026-05-04T10:00:00Z"), "start", "a", "ann", "s1")
	s.tr.Advance(utc("2026-05-05T10:30:00Z"))
	require.Len(t, s.tr.TakeFinals(), 2*24+2*1) // 24 hours of 4 May (from 10:00 to 10:00), and its day
	s.tr.Advance(utc("2026-08-05T10:30:00Z"))
	require.Len(t, s.tr.TakeFinals(), 2*2)
}

// TestCountsFollowTheState: under many random events, the Tracker's active
// counts are the state's.
func TestCountsFollowTheState(t *testing.T) {
	s := newSite(t, time.UTC)
	at := utc("2026-05-04T00:00:00Z")
	commands := []string{"start", "start", "stop", "open", "close"}
	for i := range 20000 {
		at = at.Add(17 * time.Second)
		n := i * 7919
		s.do(at, commands[n%5], []string{"a", "b", "c"}[n%3], []string{"ann", "bob", "cid", "dan", "eve"}[n/3%5], "")
		s.tr.TakeFinals()
		require.Equal(t, s.state.ActiveUsers(), s.tr.site.users, "event %d", i)
		require.Equal(t, s.state.ActiveSessions(), s.tr.site.sessions, "event %d", i)
		require.LessOrEqual(t, s.tr.site.users, s.tr.site.hour.distinct)
	}
	require.Len(t, s.tr.apps, s.state.Apps())
}
