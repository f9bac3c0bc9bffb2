package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	periodApp1 = "3f1d6c1e-8a4b-4c2d-9e0f-1a2b3c4d5e6f"
	periodApp2 = "7b2e9d4a-1c3f-4e5a-8b6c-0d1e2f3a4b5c"
)

// row is an accepted row at at (RFC 3339, with the offset its server
// writes) by user (DIR\userid) in session on server; app names the app of
// a connection.
type row struct{ at, server, command, user, session, app string }

func (r row) event(t *testing.T) LogEvent {
	t.Helper()
	stamp, err := time.Parse(time.RFC3339, r.at)
	require.NoError(t, err)
	dir, id, ok := strings.Cut(r.user, `\`)
	require.True(t, ok, "DIR\\user: %s", r.user)
	ev := Event{Server: r.server, Command: r.command, Directory: dir, UserID: id, SessionID: r.session, Context: "/hub/"}
	if r.app != "" {
		ev.Context = "/app/" + r.app
	}
	return LogEvent{Event: ev, Time: stamp}
}

func toEvents(t *testing.T, rows []row) []LogEvent {
	t.Helper()
	out := make([]LogEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.event(t))
	}
	return out
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return at.UTC()
}

// byKey indexes periods by Key, without Complete.
func byKey(periods []PeriodExpected) map[string]PeriodExpected {
	out := make(map[string]PeriodExpected, len(periods))
	for _, p := range periods {
		out[p.Key()] = p
	}
	return out
}

// The peaks of an hour: the most users and sessions at one moment, the
// user peak's first moment; the same user on two servers (spelt two ways)
// is one site user; servers in other UTC offsets count at their instants.
func TestExpectPeriodsPeakWithinAnHour(t *testing.T) {
	events := toEvents(t, []row{
		{"2026-03-02T11:05:00+01:00", "SENSE1", StartSession, `LAB\Anna`, "s1", ""},
		{"2026-03-02T11:10:00+01:00", "SENSE1", StartSession, `LAB\bob`, "s2", ""},
		{"2026-03-02T11:15:00+01:00", "SENSE1", OpenConnection, `LAB\Anna`, "s1", periodApp1},
		{"2026-03-02T05:20:00-05:00", "SENSE2", StartSession, `LAB\carl`, "s3", ""},
		{"2026-03-02T05:25:00-05:00", "sense2", StartSession, `lab\anna`, "s4", ""},
		{"2026-03-02T11:30:00+01:00", "SENSE1", StopSession, `LAB\bob`, "s2", ""},
		{"2026-03-02T11:40:00+01:00", "SENSE1", StartSession, `LAB\dora`, "s5", ""},
		{"2026-03-02T11:45:00+01:00", "SENSE1", OpenConnection, `LAB\dora`, "s5", periodApp1},
		{"2026-03-02T11:50:00+01:00", "SENSE1", OpenConnection, `LAB\dora`, "s5", periodApp2},
		{"2026-03-02T11:55:00+01:00", "SENSE1", CloseConnection, `LAB\dora`, "s5", periodApp2},
	})
	hour, day := utc(t, "2026-03-02T10:00:00Z"), utc(t, "2026-03-02T00:00:00Z")
	at := func(s string) time.Time { return utc(t, "2026-03-02T"+s+"Z") }
	want := []PeriodExpected{
		{Period: PeriodHour, Start: hour, PeakUsers: 3, PeakSessions: 4, PeakAt: at("10:20:00"), DistinctUsers: 4, SessionsStarted: 5},
		{Period: PeriodHour, Start: hour, Server: "SENSE1", PeakUsers: 2, PeakSessions: 2, PeakAt: at("10:10:00"), DistinctUsers: 3, SessionsStarted: 3},
		{Period: PeriodHour, Start: hour, Server: "SENSE2", PeakUsers: 2, PeakSessions: 2, PeakAt: at("10:25:00"), DistinctUsers: 2, SessionsStarted: 2},
		{Period: PeriodDay, Start: day, PeakUsers: 3, PeakSessions: 4, PeakAt: at("10:20:00"), DistinctUsers: 4, SessionsStarted: 5},
		{Period: PeriodDay, Start: day, Server: "SENSE1", PeakUsers: 2, PeakSessions: 2, PeakAt: at("10:10:00"), DistinctUsers: 3, SessionsStarted: 3},
		{Period: PeriodDay, Start: day, Server: "SENSE2", PeakUsers: 2, PeakSessions: 2, PeakAt: at("10:25:00"), DistinctUsers: 2, SessionsStarted: 2},
		{Period: PeriodDay, Start: day, App: periodApp1, PeakUsers: 2, PeakAt: at("10:45:00"), DistinctUsers: 2},
		{Period: PeriodDay, Start: day, App: periodApp2, PeakUsers: 1, PeakAt: at("10:50:00"), DistinctUsers: 1},
	}
	got := ExpectPeriods(events, time.UTC, at("10:58:00"))
	for i := range got {
		got[i].Start = got[i].Start.UTC()
	}
	require.Equal(t, want, got)

	// An hour later: hour 10 ended; hour 11 opened with the three users
	// still active (its peaks at its start, nothing started in it).
	later := byKey(ExpectPeriods(events, time.UTC, at("11:30:00")))
	require.True(t, later[want[0].Key()].Complete)
	next := PeriodExpected{Period: PeriodHour, Start: at("11:00:00"), PeakUsers: 3, PeakSessions: 4, PeakAt: at("11:00:00"), DistinctUsers: 3}
	require.Equal(t, next, withUTCStart(later[next.Key()]))
	require.False(t, later[PeriodExpected{Period: PeriodDay, Start: day}.Key()].Complete)
}

func withUTCStart(p PeriodExpected) PeriodExpected {
	p.Start = p.Start.UTC()
	return p
}

// A user active across an hour's end counts in both hours, started in the
// first; a period nobody was active in has no point.
func TestExpectPeriodsAcrossTheHour(t *testing.T) {
	events := toEvents(t, []row{
		{"2026-03-02T10:50:00Z", "SENSE1", StartSession, `LAB\anna`, "s1", ""},
		{"2026-03-02T11:10:00Z", "SENSE1", StopSession, `LAB\anna`, "s1", ""},
		{"2026-03-02T13:10:00Z", "SENSE1", StartSession, `LAB\bob`, "s2", ""},
	})
	got := byKey(ExpectPeriods(events, time.UTC, utc(t, "2026-03-02T13:30:00Z")))
	ten := PeriodExpected{Period: PeriodHour, Start: utc(t, "2026-03-02T10:00:00Z"), PeakUsers: 1, PeakSessions: 1,
		PeakAt: utc(t, "2026-03-02T10:50:00Z"), DistinctUsers: 1, SessionsStarted: 1, Complete: true}
	eleven := PeriodExpected{Period: PeriodHour, Start: utc(t, "2026-03-02T11:00:00Z"), PeakUsers: 1, PeakSessions: 1,
		PeakAt: utc(t, "2026-03-02T11:00:00Z"), DistinctUsers: 1, Complete: true}
	require.Equal(t, ten, withUTCStart(got[ten.Key()]))
	require.Equal(t, eleven, withUTCStart(got[eleven.Key()]))
	_, twelve := got[PeriodExpected{Period: PeriodHour, Start: utc(t, "2026-03-02T12:00:00Z")}.Key()]
	require.False(t, twelve, "nobody was active from 11:10 to 13:10")
	day := got[PeriodExpected{Period: PeriodDay, Start: utc(t, "2026-03-02T00:00:00Z")}.Key()]
	require.Equal(t, 2, day.DistinctUsers)
	require.Equal(t, 2, day.SessionsStarted)
	require.Equal(t, 1, day.PeakUsers)
	require.Equal(t, utc(t, "2026-03-02T10:50:00Z"), day.PeakAt)
}

// Days with a DST change have 23 and 25 hours of the zone's clock; a day
// opens with the users active at its midnight.
func TestExpectPeriodsDST(t *testing.T) {
	stockholm, err := time.LoadLocation("Europe/Stockholm")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, start, stop, day string
		hours                  int
		twice                  bool // an hour of the local clock comes twice
	}{
		{"spring", "2026-03-28T23:30:00+01:00", "2026-03-30T00:30:00+02:00", "2026-03-29", 23, false},
		{"autumn", "2026-10-24T23:30:00+02:00", "2026-10-26T00:30:00+01:00", "2026-10-25", 25, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := toEvents(t, []row{
				{tc.start, "SENSE1", StartSession, `LAB\anna`, "s1", ""},
				{tc.stop, "SENSE1", StopSession, `LAB\anna`, "s1", ""},
			})
			got := ExpectPeriods(events, stockholm, events[1].Time.Add(time.Hour))
			date, err := time.ParseInLocation(time.DateOnly, tc.day, stockholm)
			require.NoError(t, err)
			hours, local := 0, make(map[int]int)
			var days []string
			for _, p := range got {
				switch {
				case p.Period == PeriodDay && p.Server == "":
					days = append(days, p.Start.In(stockholm).Format(time.DateTime))
					if p.Start.Equal(date) {
						require.Equal(t, date, p.PeakAt.In(stockholm), "active at midnight: the peak is the day's start")
						require.Zero(t, p.SessionsStarted)
						require.True(t, p.Complete)
					}
				case p.Period == PeriodHour && p.Server == "" && p.Start.In(stockholm).Format(time.DateOnly) == tc.day:
					hours++
					local[p.Start.In(stockholm).Hour()]++
					require.Equal(t, 0, p.Start.In(stockholm).Minute())
					require.Equal(t, 1, p.DistinctUsers)
				}
			}
			require.Equal(t, tc.hours, hours)
			midnight := func(d time.Time) string { return d.Format(time.DateOnly) + " 00:00:00" }
			require.Equal(t, []string{midnight(date.AddDate(0, 0, -1)), midnight(date), midnight(date.AddDate(0, 0, 1))}, days)
			if tc.twice {
				require.Equal(t, 2, local[2], "02:00 comes twice")
			} else {
				require.Zero(t, local[2], "02:00 does not come")
			}
		})
	}
}

// The same rows in the files give the same periods: the log files the
// replay writes, read back.
func TestExpectPeriodsFromLogDir(t *testing.T) {
	dir := t.TempDir()
	w, err := NewLogWriter(LogConfig{Dir: dir, RotateAge: 6 * time.Hour, Seed: 3})
	require.NoError(t, err)
	const n = 2000
	sim, err := NewSimulation(SimConfig{Users: 40, Directories: 2, Servers: 3, Events: n, Seed: 3, Format: "sos"})
	require.NoError(t, err)
	clock := SimClock{Start: time.Date(2026, 3, 28, 20, 0, 0, 0, time.UTC), Rate: n / (3.5 * 86400)}
	zones := []*time.Location{time.FixedZone("", 3600), time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+1800)}
	var events []LogEvent
	for i := 0; ; i++ {
		ev, ok := sim.Next()
		if !ok {
			break
		}
		at := clock.At(i).In(zones[i%3])
		require.NoError(t, w.Write(&ev, at))
		events = append(events, LogEvent{Event: ev, Time: at})
	}
	require.NoError(t, w.Close())
	require.Greater(t, w.Stats().Rotations, 3)
	stockholm, err := time.LoadLocation("Europe/Stockholm")
	require.NoError(t, err)
	until := clock.At(n)
	fromFiles, err := ExpectPeriodsFromLogDir(dir, stockholm, until)
	require.NoError(t, err)
	direct := ExpectPeriods(events, stockholm, until)
	require.Equal(t, direct, fromFiles)
	var site int
	for _, p := range direct {
		if p.Period == PeriodHour && p.Server == "" {
			site++
			require.LessOrEqual(t, p.PeakUsers, p.DistinctUsers)
			require.LessOrEqual(t, p.PeakUsers, p.PeakSessions)
		}
	}
	require.Greater(t, site, 3*24, "the simulation spans more than three days")
}
