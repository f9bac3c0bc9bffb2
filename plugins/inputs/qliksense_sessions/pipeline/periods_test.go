package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
)

// periodsPipeline is a started pipeline with periods in UTC on the test's
// clock, saving to path ("" for nowhere).
func periodsPipeline(t *testing.T, c *testClock, path string, log telegraf.Logger) (*Pipeline, *testutil.Accumulator) {
	t.Helper()
	p := New(Config{Periods: &periods.Config{Location: time.UTC, MaxUsers: 100}, Now: c.Now, UsersMaxBytes: 1024,
		StateFile: path, StateSaveInterval: time.Hour, Log: log, Throttle: throttle.NewLog(log, time.Minute)})
	p.Restore(c.now)
	acc := &testutil.Accumulator{}
	p.Start(acc)
	return p, acc
}

// row hands p a log row's event, stamped at.
func row(p *Pipeline, at time.Time, server string, cmd event.Command, user string) {
	p.Handle(&event.Parsed{
		Event: event.Event{Server: server, Command: cmd, Directory: "LAB", UserID: user, SessionID: user + "-" + server, Time: at},
		From:  event.Origin{Path: "/logs/" + server + ".txt"},
	})
}

// periodPoints are the period and distinct metrics acc got; it forgets
// them.
func periodPoints(acc *testutil.Accumulator) []telegraf.Metric {
	var out []telegraf.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == metrics.Period || m.Name() == metrics.Distinct {
			out = append(out, m)
		}
	}
	acc.ClearMetrics()
	return out
}

//nolint:revive // argument-limit: a point, field by field, as the tests read it
func periodMetric(kind, server, start string, peakUsers, peakSessions int, peakAt string, distinct, started int, complete bool) telegraf.Metric {
	tags := map[string]string{"period": kind}
	if server != "" {
		tags["server"] = server
	}
	at, err := time.Parse(time.RFC3339, start)
	if err != nil {
		panic(err)
	}
	return metric.New(metrics.Period, tags, map[string]interface{}{
		"peak_users": int64(peakUsers), "peak_sessions": int64(peakSessions), "peak_at": peakAt,
		"distinct_users": int64(distinct), "sessions_started": int64(started), "complete": complete,
	}, at)
}

func distinctMetric(server string, d7, d30 int, at time.Time) telegraf.Metric {
	var tags map[string]string
	if server != "" {
		tags = map[string]string{"server": server}
	}
	return metric.New(metrics.Distinct, tags, map[string]interface{}{"distinct_users_7d": int64(d7), "distinct_users_30d": int64(d30)}, at)
}

// TestPeriodsThroughThePipeline: rows count at their own time stamps; a
// gather has the current periods; the first event past the hour writes its
// final points at once.
func TestPeriodsThroughThePipeline(t *testing.T) {
	c := &testClock{now: time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)}
	p, acc := periodsPipeline(t, c, "", testutil.Logger{})
	defer p.Stop()
	row(p, time.Date(2026, 12, 7, 10, 5, 0, 0, time.UTC), "SENSE1", event.StartSession, "ann")
	row(p, time.Date(2026, 12, 7, 10, 10, 0, 0, time.UTC), "SENSE2", event.StartSession, "bob")
	row(p, time.Date(2026, 12, 7, 10, 20, 0, 0, time.UTC), "SENSE2", event.StopSession, "bob")
	p.Gather(acc)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		periodMetric("hour", "", "2026-12-07T10:00:00Z", 2, 2, "2026-12-07T10:10:00Z", 2, 2, false),
		periodMetric("hour", "SENSE1", "2026-12-07T10:00:00Z", 1, 1, "2026-12-07T10:05:00Z", 1, 1, false),
		periodMetric("hour", "SENSE2", "2026-12-07T10:00:00Z", 1, 1, "2026-12-07T10:10:00Z", 1, 1, false),
		periodMetric("day", "", "2026-12-07T00:00:00Z", 2, 2, "2026-12-07T10:10:00Z", 2, 2, false),
		periodMetric("day", "SENSE1", "2026-12-07T00:00:00Z", 1, 1, "2026-12-07T10:05:00Z", 1, 1, false),
		periodMetric("day", "SENSE2", "2026-12-07T00:00:00Z", 1, 1, "2026-12-07T10:10:00Z", 1, 1, false),
		distinctMetric("", 2, 2, c.now),
		distinctMetric("SENSE1", 1, 1, c.now),
		distinctMetric("SENSE2", 1, 1, c.now),
	}, periodPoints(acc))

	row(p, time.Date(2026, 12, 7, 11, 2, 0, 0, time.UTC), "SENSE1", event.StopSession, "ann")
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		periodMetric("hour", "", "2026-12-07T10:00:00Z", 2, 2, "2026-12-07T10:10:00Z", 2, 2, true),
		periodMetric("hour", "SENSE1", "2026-12-07T10:00:00Z", 1, 1, "2026-12-07T10:05:00Z", 1, 1, true),
		periodMetric("hour", "SENSE2", "2026-12-07T10:00:00Z", 1, 1, "2026-12-07T10:10:00Z", 1, 1, true),
	}, periodPoints(acc)) // the final points, once, on the event

	fields := make(map[string]interface{})
	p.InternalFields(fields)
	require.Equal(t, int64(2), fields["tracked_period_users"])
	require.Equal(t, int64(0), fields["period_users_refused_max_users"])
}

// TestPeriodsRestartAcrossMidnight: saved at 23:59, restarted at 00:05,
// the first gather writes the day's and its last hour's final points, and
// the new day starts with the user still active.
func TestPeriodsRestartAcrossMidnight(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	c := &testClock{now: time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)}
	p, acc := periodsPipeline(t, c, path, testutil.Logger{})
	row(p, time.Date(2026, 12, 7, 22, 10, 0, 0, time.UTC), "SENSE1", event.StartSession, "ann")
	row(p, time.Date(2026, 12, 7, 23, 30, 0, 0, time.UTC), "SENSE1", event.StartSession, "bob")
	row(p, time.Date(2026, 12, 7, 23, 40, 0, 0, time.UTC), "SENSE1", event.StopSession, "bob")
	c.now = time.Date(2026, 12, 7, 23, 59, 0, 0, time.UTC)
	p.Gather(acc)
	p.Stop() // the last save

	c.now = time.Date(2026, 12, 8, 0, 5, 0, 0, time.UTC)
	p, acc = periodsPipeline(t, c, path, testutil.Logger{})
	defer p.Stop()
	p.Gather(acc)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		periodMetric("hour", "", "2026-12-07T23:00:00Z", 2, 2, "2026-12-07T23:30:00Z", 2, 1, true),
		periodMetric("hour", "SENSE1", "2026-12-07T23:00:00Z", 2, 2, "2026-12-07T23:30:00Z", 2, 1, true),
		periodMetric("day", "", "2026-12-07T00:00:00Z", 2, 2, "2026-12-07T23:30:00Z", 2, 2, true),
		periodMetric("day", "SENSE1", "2026-12-07T00:00:00Z", 2, 2, "2026-12-07T23:30:00Z", 2, 2, true),
		periodMetric("hour", "", "2026-12-08T00:00:00Z", 1, 1, "2026-12-08T00:00:00Z", 1, 0, false),
		periodMetric("hour", "SENSE1", "2026-12-08T00:00:00Z", 1, 1, "2026-12-08T00:00:00Z", 1, 0, false),
		periodMetric("day", "", "2026-12-08T00:00:00Z", 1, 1, "2026-12-08T00:00:00Z", 1, 0, false),
		periodMetric("day", "SENSE1", "2026-12-08T00:00:00Z", 1, 1, "2026-12-08T00:00:00Z", 1, 0, false),
		distinctMetric("", 2, 2, c.now),
		distinctMetric("SENSE1", 2, 2, c.now),
	}, periodPoints(acc))
}

// TestPeriodsRestartWithinTheDay: a restart (here after a SIGKILL: the
// state file of the last periodic save) neither resets nor double-counts
// the day.
func TestPeriodsRestartWithinTheDay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	c := &testClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	p, acc := periodsPipeline(t, c, path, testutil.Logger{})
	row(p, time.Date(2026, 12, 7, 10, 10, 0, 0, time.UTC), "SENSE1", event.StartSession, "ann")
	row(p, time.Date(2026, 12, 7, 10, 20, 0, 0, time.UTC), "SENSE1", event.StartSession, "bob")
	row(p, time.Date(2026, 12, 7, 10, 25, 0, 0, time.UTC), "SENSE1", event.StopSession, "bob")
	p.save(false) // the last save before the kill
	c.now = time.Date(2026, 12, 7, 10, 29, 0, 0, time.UTC)
	p.Gather(acc)
	before := periodPoints(acc)
	p.Stop()

	c.now = time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	p, acc = periodsPipeline(t, c, path, testutil.Logger{})
	defer p.Stop()
	// Rows read again after the saved positions would count once more; here
	// bob comes back, and counts once.
	row(p, time.Date(2026, 12, 7, 10, 31, 0, 0, time.UTC), "SENSE1", event.StartSession, "bob")
	c.now = time.Date(2026, 12, 7, 10, 29, 0, 0, time.UTC) // the gather's time as before, for the comparison
	p.Gather(acc)
	after := periodPoints(acc)
	require.Len(t, after, len(before))
	for i := range before {
		b, a := before[i].Fields(), after[i].Fields()
		require.Equal(t, b["distinct_users"], a["distinct_users"], "%v", after[i])
		require.Equal(t, b["peak_users"], a["peak_users"], "%v", after[i])
	}
	require.Equal(t, int64(3), after[0].Fields()["sessions_started"])
}

// TestPeriodsInTheFutureAreSkipped: a state file whose periods lie in the
// future is reported, and those periods skipped.
func TestPeriodsInTheFutureAreSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	future := `{"version": 1, "saved_at": "2026-12-07T10:00:00Z", "sessions": [], "periods": {"version": 1, "zone": "UTC",
		"clock": "2026-12-09T10:00:00Z", "open": [{"period": "day", "start": "2026-12-09T00:00:00Z", "peak_users": 50, "peak_sessions": 50,
		"peak_at": "2026-12-09T09:00:00Z", "sessions_started": 80}, {"period": "hour", "start": "2026-10-01T10:00:00Z", "peak_users": 5}]}}`
	require.NoError(t, os.WriteFile(path, []byte(future), 0o600))
	log := &testutil.CaptureLogger{}
	c := &testClock{now: time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)}
	p, acc := periodsPipeline(t, c, path, log)
	defer p.Stop()
	require.Contains(t, strings.Join(log.Warnings(), "\n"),
		`State file "`+path+`": periods: skipped 1 starting more than 1h after the clock, 1 older than 30 days`)
	p.Gather(acc)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{distinctMetric("", 0, 0, c.now)}, periodPoints(acc))
}

// TestPeriodClockHeldWhileRebuilding: while the log files are rebuilt, a
// gather at the wall clock's time ends no period; the rows' times do.
func TestPeriodClockHeldWhileRebuilding(t *testing.T) {
	c := &testClock{now: time.Date(2026, 12, 9, 8, 0, 0, 0, time.UTC)}
	p, acc := periodsPipeline(t, c, "", testutil.Logger{})
	defer p.Stop()
	p.HoldPeriodClock(true)
	row(p, time.Date(2026, 12, 7, 10, 5, 0, 0, time.UTC), "SENSE1", event.StartSession, "ann")
	p.Gather(acc)
	for _, m := range periodPoints(acc) {
		if m.Name() == metrics.Period {
			require.Equal(t, false, m.Fields()["complete"], "%v", m)
		}
	}
	row(p, time.Date(2026, 12, 7, 11, 5, 0, 0, time.UTC), "SENSE1", event.StopSession, "ann")
	require.Len(t, periodPoints(acc), 2, "the hour of 10:00 ends at the row of 11:05: site and server")
	p.HoldPeriodClock(false)
	p.Gather(acc)
	complete := 0
	for _, m := range periodPoints(acc) {
		if done, _ := m.Fields()["complete"].(bool); done {
			complete++
		}
	}
	require.Equal(t, 4, complete, "the hour of 11:00 and the day end at the gather: site and server")
}

// TestPeriodsFromAnOldStateFile: a state file without periods (every file
// before them) restores the sessions, whose users count in the periods
// from the restart.
func TestPeriodsFromAnOldStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	data, err := os.ReadFile("../statefile/testdata/v1.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	c := &testClock{now: time.Date(2026, 11, 24, 8, 30, 0, 0, time.UTC)}
	p, acc := periodsPipeline(t, c, path, testutil.Logger{})
	defer p.Stop()
	p.Gather(acc)
	points := periodPoints(acc)
	require.NotEmpty(t, points)
	site := points[0].Fields()
	require.Equal(t, int64(p.ActiveUsers()), site["distinct_users"])
	require.Equal(t, int64(0), site["sessions_started"], "restored sessions are not started ones")
	require.Equal(t, "2026-11-24T08:00:00Z", points[0].Time().UTC().Format(time.RFC3339))
}

// TestPeriodsRefusedAreLogged: users beyond max_users are counted and
// logged.
func TestPeriodsRefusedAreLogged(t *testing.T) {
	log := &testutil.CaptureLogger{}
	c := &testClock{now: time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)}
	p := New(Config{Periods: &periods.Config{Location: time.UTC, MaxUsers: 1}, Now: c.Now, UsersMaxBytes: 1024,
		StateSaveInterval: time.Hour, Log: log, Throttle: throttle.NewLog(log, time.Minute)})
	acc := &testutil.Accumulator{}
	p.Start(acc)
	defer p.Stop()
	row(p, c.now, "SENSE1", event.StartSession, "ann")
	row(p, c.now, "SENSE1", event.StartSession, "bob")
	p.Gather(acc)
	require.Contains(t, strings.Join(log.Warnings(), "\n"), "distinct_users leaves out 1 users since the start: max_users = 1")
	fields := make(map[string]interface{})
	p.InternalFields(fields)
	require.Equal(t, int64(1), fields["period_users_refused_max_users"])
}
