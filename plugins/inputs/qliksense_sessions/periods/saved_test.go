package periods

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// restart saves s's periods and sessions (through JSON, as the state file
// keeps them) and restores both into a new site at now, as the pipeline
// does: the periods first, then the sessions, restoring.
func restart(t *testing.T, s *site, now time.Time) (*site, Report) {
	t.Helper()
	data, err := json.Marshal(s.tr.Save())
	require.NoError(t, err)
	var saved Saved
	require.NoError(t, json.Unmarshal(data, &saved))
	next := newSite(t, s.tr.cfg.Location)
	report := next.tr.Restore(&saved, now)
	next.tr.Restoring(true)
	next.state.Restore(s.state.Records())
	next.tr.Restoring(false)
	next.tr.Advance(now)
	return next, report
}

// TestRestartWithinTheHour: a restart at 10:30 neither resets nor
// double-counts the hour and the day.
func TestRestartWithinTheHour(t *testing.T) {
	s := newSite(t, time.UTC)
	s.do(utc("2026-05-04T08:00:00Z"), "start", "a", "ann", "s1")
	s.do(utc("2026-05-04T08:30:00Z"), "stop", "a", "ann", "s1")
	s.do(utc("2026-05-04T10:05:00Z"), "start", "a", "bob", "s2")
	s.do(utc("2026-05-04T10:06:00Z"), "open", "a", "bob", "s2")
	s.do(utc("2026-05-04T10:10:00Z"), "start", "b", "cid", "s3")
	s.do(utc("2026-05-04T10:20:00Z"), "stop", "b", "cid", "s3")
	s.tr.TakeFinals()
	before := s.tr.Current(nil)
	beforeRolling := s.tr.Rolling(nil)

	next, report := restart(t, s, utc("2026-05-04T10:30:00Z"))
	require.False(t, report.Skipped(), report.String())
	require.False(t, next.tr.HasFinals())
	require.Equal(t, before, next.tr.Current(nil))
	require.Equal(t, beforeRolling, next.tr.Rolling(nil))

	// Those already counted do not count again; a new one does.
	next.do(utc("2026-05-04T10:40:00Z"), "start", "b", "cid", "s4")
	next.do(utc("2026-05-04T10:41:00Z"), "start", "a", "ann", "s5")
	next.do(utc("2026-05-04T10:42:00Z"), "start", "a", "dan", "s6")
	points := normalised(next.tr.Current(nil))
	require.Equal(t, site1(Hour, "2026-05-04T10:00:00Z", 4, 4, "2026-05-04T10:42:00Z", 4, 5, false), points[0])
	require.Equal(t, site1(Day, "2026-05-04T00:00:00Z", 4, 4, "2026-05-04T10:42:00Z", 4, 6, false), points[3])
	require.Equal(t, Rolling{Distinct7: 4, Distinct30: 4}, next.tr.Rolling(nil)[0])
}

// TestRestartAcrossMidnight: saved at 23:59, restored at 00:05, the day
// and its last hour get their final points, and the new day starts with
// the users still active.
func TestRestartAcrossMidnight(t *testing.T) {
	s := newSite(t, time.UTC)
	s.do(utc("2026-05-04T22:00:00Z"), "start", "a", "ann", "s1")
	s.do(utc("2026-05-04T23:30:00Z"), "start", "a", "bob", "s2")
	s.do(utc("2026-05-04T23:40:00Z"), "stop", "a", "bob", "s2")
	s.tr.Advance(utc("2026-05-04T23:59:00Z"))
	s.tr.TakeFinals()

	next, report := restart(t, s, utc("2026-05-05T00:05:00Z"))
	require.False(t, report.Skipped(), report.String())
	require.Equal(t, []Point{
		site1(Hour, "2026-05-04T23:00:00Z", 2, 2, "2026-05-04T23:30:00Z", 2, 1, true),
		onServer(site1(Hour, "2026-05-04T23:00:00Z", 2, 2, "2026-05-04T23:30:00Z", 2, 1, true), "a"),
		site1(Day, "2026-05-04T00:00:00Z", 2, 2, "2026-05-04T23:30:00Z", 2, 2, true),
		onServer(site1(Day, "2026-05-04T00:00:00Z", 2, 2, "2026-05-04T23:30:00Z", 2, 2, true), "a"),
	}, normalised(next.tr.TakeFinals()))
	require.Equal(t, []Point{
		site1(Hour, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false),
		onServer(site1(Hour, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false), "a"),
		site1(Day, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false),
		onServer(site1(Day, "2026-05-05T00:00:00Z", 1, 1, "2026-05-05T00:00:00Z", 1, 0, false), "a"),
	}, normalised(next.tr.Current(nil)))
	require.Equal(t, []Rolling{{Distinct7: 2, Distinct30: 2}, {Server: "a", Distinct7: 2, Distinct30: 2}}, next.tr.Rolling(nil))
}

// TestRestoreSkipsFutureAndOld: periods and days in the future or beyond
// the 30 days are reported and skipped, the rest restored.
func TestRestoreSkipsFutureAndOld(t *testing.T) {
	now := utc("2026-05-04T10:30:00Z")
	saved := &Saved{Version: SavedVersion, Zone: "UTC", Clock: utc("2026-05-04T10:20:00Z"),
		Open: []SavedPeriod{
			{Period: "hour", Start: utc("2026-05-04T10:00:00Z"), PeakUsers: 3, PeakSessions: 4, PeakAt: utc("2026-05-04T10:10:00Z"), SessionsStarted: 2},
			{Period: "day", Start: utc("2026-05-04T00:00:00Z"), PeakUsers: 5, PeakSessions: 6, PeakAt: utc("2026-05-04T09:00:00Z"), SessionsStarted: 7},
			{Period: "hour", Start: utc("2026-05-04T14:00:00Z"), PeakUsers: 9}, // future
			{Period: "day", Start: utc("2026-03-01T00:00:00Z"), PeakUsers: 9},  // too old
			{Period: "hour", Start: utc("2026-05-04T10:17:00Z"), PeakUsers: 9}, // not an hour
			{Period: "week", Start: utc("2026-05-04T00:00:00Z"), PeakUsers: 9}, // no period
			{Period: "day", Start: utc("2026-05-03T00:00:00Z"), PeakUsers: 9},  // not the open day
		},
		Users: []SavedUser{
			{User: `lab\ann`, Day: "2026-05-04", InHour: true},
			{User: `lab\bob`, Day: "2026-05-01"},
			{User: `lab\cid`, Day: "2026-05-09"}, // future
			{User: `lab\dan`, Day: "2026-03-01"}, // too old
			{User: `lab\eve`, Day: "yesterday"},  // invalid
		},
	}
	tr := New(Config{Location: time.UTC})
	report := tr.Restore(saved, now)
	tr.Advance(now)
	require.Equal(t, Report{Future: 2, TooOld: 2, Invalid: 4}, report)
	require.Equal(t, "skipped 2 starting more than 1h after the clock, 2 older than 30 days, 4 not a period or day of period_timezone", report.String())
	require.Equal(t, []Point{
		site1(Hour, "2026-05-04T10:00:00Z", 3, 4, "2026-05-04T10:10:00Z", 3, 2, false),
		site1(Day, "2026-05-04T00:00:00Z", 5, 6, "2026-05-04T09:00:00Z", 5, 7, false),
	}, normalised(tr.Current(nil)))
	require.Equal(t, []Rolling{{Distinct7: 2, Distinct30: 2}}, tr.Rolling(nil))

	// Another zone or version: the whole section is skipped.
	for _, bad := range []Saved{{Version: 2, Zone: "UTC"}, {Version: SavedVersion, Zone: "Europe/Stockholm"}} {
		report := New(Config{Location: time.UTC}).Restore(&bad, now)
		require.NotEmpty(t, report.Whole)
		require.True(t, report.Skipped())
	}
}

// TestRestoreOverLimit: users beyond max_users are skipped and reported.
func TestRestoreOverLimit(t *testing.T) {
	saved := &Saved{Version: SavedVersion, Zone: "UTC", Clock: utc("2026-05-04T10:20:00Z"), Users: []SavedUser{
		{User: `lab\ann`, Day: "2026-05-04"}, {User: `lab\bob`, Day: "2026-05-04"}, {User: `lab\cid`, Day: "2026-05-04"}}}
	tr := New(Config{Location: time.UTC, MaxUsers: 2})
	require.Equal(t, Report{OverLimit: 1}, tr.Restore(saved, utc("2026-05-04T10:30:00Z")))
	require.Equal(t, 2, tr.Remembered())
}

// TestMaxUsers: a user beyond the limit counts in the peaks, not in the
// distinct users, and is counted.
func TestMaxUsers(t *testing.T) {
	s := &site{t: t, state: state.New(state.Config{}), tr: New(Config{Location: time.UTC, MaxUsers: 1})}
	s.state.Observe(s.tr)
	s.do(utc("2026-05-04T10:00:00Z"), "start", "a", "ann", "s1")
	s.do(utc("2026-05-04T10:01:00Z"), "start", "a", "bob", "s2")
	require.Equal(t, uint64(1), s.tr.Refused())
	p := s.tr.Current(nil)[0]
	require.Equal(t, 2, p.PeakUsers)
	require.Equal(t, 2, p.Distinct) // never fewer than the peak
}
