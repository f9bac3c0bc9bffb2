//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// periodZone is the zone of the test's hours and days: the plugin takes the
// machine's (TZ) as period_timezone's default.
const periodZone = "Europe/Stockholm"

// TestPeriodsFromLogFiles is issue 19's first done criterion, through the
// real Telegraf: log files of three servers, each writing its own UTC
// offset, rotated, spanning 50 hours up to now, rebuilt with no state file,
// give for every hour and day the peaks, peak moments, distinct users and
// sessions started that the replay's own computation (replay.ExpectPeriods)
// gives for the same rows; then a SIGKILL of the plugin and its restart
// from the state file give the same open periods, and read no row again.
func TestPeriodsFromLogFiles(t *testing.T) {
	lt := newLogFileTest(t)
	bin, dir, audit, stateFile := lt.bin, lt.dir, lt.audit, lt.stateFile
	loc, err := time.LoadLocation(periodZone)
	require.NoError(t, err)

	written := writePeriodLogs(t, audit, loc)
	conf := pluginConfigAt(t, dir, "periods.conf", freeUDPPort(t), fmt.Sprintf(`  state_file = %q
  state_save_interval = "1s"
  [inputs.qliksense_sessions.logfile]
    files = [%q]
    archive_max_age = "72h"
`, stateFile, filepath.Join(audit, "*_AuditActivity_Proxy.txt")))
	started := time.Now()
	tg := startTelegrafStdout(t, bin, telegrafStdoutConfig(t, dir, "periods-telegraf.conf", bin, conf), "TZ="+periodZone)
	rows, files, took := rebuildLine(t, tg.process)
	require.Equal(t, written.Events+written.IgnoredRows, rows)
	t.Logf("rebuilt %d rows of %d files (%d rotations) in %s", rows, files, written.Rotations, took)
	requirePeriodPoints(t, tg)

	// 1. Every complete point is the computation's, and every period that
	// ended before Telegraf started has one.
	var complete map[string]replay.PeriodExpected
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		want := expectPeriods(c, audit, loc, time.Now())
		complete = periodPoints(c, tg.out.snapshot(), true)
		assert.Empty(c, periodsMismatch(want, complete, loc, started),
			"the complete qliksense_users_period points differ from the replay's computation over the same rows")
	}, 60*time.Second, 200*time.Millisecond)
	counts := countPeriods(complete)
	t.Logf("complete points equal to the computation: %v", counts)
	require.GreaterOrEqual(t, counts["hour site"], 48, "the files span 50 hours")
	require.GreaterOrEqual(t, counts["day site"], 2, "the files span more than a day")
	require.GreaterOrEqual(t, counts["hour server"], 3*40)
	require.Positive(t, counts["day app"])
	requireNoErrorLines(t, tg.log())

	// 2. The open periods (complete=false, on every gather) are the
	// computation's too.
	before := requireOpenPeriods(t, tg, 0, audit, loc, "after the rebuild")

	// 3. SIGKILL once the state file holds everything read, and the
	// restart (execd starts the plugin again) from it.
	waitForSavedPositions(t, stateFile, audit)
	killAt := len(tg.out.snapshot())
	pid := childProcess(t, tg.cmd.Process.Pid, "qliksense_sess")
	child, err := os.FindProcess(pid)
	require.NoError(t, err)
	require.NoError(t, child.Kill()) // SIGKILL
	restartAt := secondRunStart(t, tg, killAt)
	after := requireOpenPeriods(t, tg, restartAt, audit, loc, "after the SIGKILL and the restart from the state file")
	for key, p := range after {
		if b, ok := before[key]; ok {
			require.Empty(t, periodDiff(b, p), "%s: the open period changed across the restart", key)
		}
	}
	finals := periodPoints(t, tg.out.snapshot()[restartAt:], true)
	want := byPeriodKey(expectPeriods(t, audit, loc, time.Now()))
	for key, p := range finals {
		w, ok := want[key]
		require.True(t, ok && w.Complete, "%s: a final point after the restart of a period the computation has not ended", key)
		require.Empty(t, periodDiff(w, p), "%s: a final point after the restart", key)
	}
}

// writePeriodLogs writes 50 hours of three servers' audit activity logs
// ending two minutes ago: SENSE1 writes +01:00, SENSE2 -05:00, SENSE3
// +05:30; files rotate every 6 hours of their clock and at 1 MB; most users
// leave every evening (19:00 in loc) and others come and go all the time.
func writePeriodLogs(t *testing.T, audit string, loc *time.Location) replay.LogStats {
	t.Helper()
	const events = 36_000
	sim, err := replay.NewSimulation(replay.SimConfig{Users: 600, Directories: 3, Servers: 3, Events: events, Seed: 19, Format: "sos"})
	require.NoError(t, err)
	w, err := replay.NewLogWriter(replay.LogConfig{Dir: audit, RotateBytes: 1 << 20, RotateAge: 6 * time.Hour, Noise: 0.05, Seed: 19})
	require.NoError(t, err)
	end := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	span := 50 * time.Hour
	// One event every 5 s: no two rows share a moment, so the order of rows
	// of the same moment on two servers does not matter, and every time
	// stamp is a whole second, as precise as any peak_at.
	clock := replay.SimClock{Start: end.Add(-span), Rate: float64(events) / span.Seconds()}
	zones := map[string]*time.Location{
		"SENSE1": time.FixedZone("", 3600),
		"SENSE2": time.FixedZone("", -5*3600),
		"SENSE3": time.FixedZone("", 5*3600+30*60),
	}
	evening := -1
	for i := 0; ; i++ {
		at := clock.At(i)
		if local := at.In(loc); local.Hour() == 19 && local.YearDay() != evening {
			evening = local.YearDay()
			sim.LogOutAll(0.1)
		} else if i%40 == 0 {
			sim.Churn()
		}
		ev, ok := sim.Next()
		if !ok {
			break
		}
		zone, known := zones[ev.Server]
		require.True(t, known, ev.Server)
		require.NoError(t, w.Write(&ev, at.In(zone)))
	}
	require.NoError(t, w.Close())
	stats := w.Stats()
	require.GreaterOrEqual(t, stats.Rotations, 3*7)
	return stats
}

// requirePeriodPoints fails at once, and says why, if the plugin writes no
// usage periods at all.
func requirePeriodPoints(t *testing.T, tg *stdoutTelegraf) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return tg.out.count("qliksense_users_period") > 0 }, 30*time.Second, 200*time.Millisecond,
		"no qliksense_users_period point on Telegraf's stdout within 30 s of the rebuild") {
		t.Fatalf("%d metrics came, %d site summaries among them, but no usage period: the plugin built in QSS_BIN_DIR "+
			"has no usage periods (issue 19, deliverable 1), or does not write them", len(tg.out.snapshot()), tg.out.count("qliksense_users"))
	}
}

func expectPeriods(t require.TestingT, audit string, loc *time.Location, until time.Time) []replay.PeriodExpected {
	want, err := replay.ExpectPeriodsFromLogDir(audit, loc, until)
	require.NoError(t, err)
	return want
}

func byPeriodKey(periods []replay.PeriodExpected) map[string]replay.PeriodExpected {
	out := make(map[string]replay.PeriodExpected, len(periods))
	for _, p := range periods {
		out[p.Key()] = p
	}
	return out
}

// periodPoints are the qliksense_users_period points with complete set
// as given, the last of each period and scope.
func periodPoints(t require.TestingT, metrics []telegraf.Metric, complete bool) map[string]replay.PeriodExpected {
	out := make(map[string]replay.PeriodExpected)
	for _, m := range metrics {
		if m.Name() != "qliksense_users_period" {
			continue
		}
		p := periodOf(t, m)
		if p.Complete == complete {
			out[p.Key()] = p
		}
	}
	return out
}

func periodOf(t require.TestingT, m telegraf.Metric) replay.PeriodExpected {
	integer := func(name string) int {
		v, ok := m.GetField(name)
		if !ok {
			return 0 // an app's point has no sessions
		}
		n, ok := v.(int64)
		require.True(t, ok, "%s: field %s is %T, not an integer", m.Name(), name, v)
		return int(n)
	}
	p := replay.PeriodExpected{Period: m.Tags()["period"], Start: m.Time(), Server: m.Tags()["server"], App: m.Tags()["app_id"],
		PeakUsers: integer("peak_users"), PeakSessions: integer("peak_sessions"), DistinctUsers: integer("distinct_users"),
		SessionsStarted: integer("sessions_started")}
	if v, ok := m.GetField("peak_at"); ok {
		s, isString := v.(string)
		require.True(t, isString, "peak_at is %T, not a string", v)
		at, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err, "peak_at is not RFC 3339")
		require.True(t, strings.HasSuffix(s, "Z"), "peak_at %q is not in UTC", s)
		p.PeakAt = at
	}
	complete, ok := m.GetField("complete")
	require.True(t, ok, "a qliksense_users_period point without complete: %v", m)
	p.Complete, ok = complete.(bool)
	require.True(t, ok, "complete is %T, not a bool", complete)
	return p
}

// periodsMismatch says how the complete points got differ from want: each
// must be the computation's, and each period of want that ended before
// started must have its point. "" if they agree.
func periodsMismatch(want []replay.PeriodExpected, got map[string]replay.PeriodExpected, loc *time.Location, started time.Time) string {
	var lines []string
	index := byPeriodKey(want)
	for _, w := range want {
		if !w.Complete || periodEnd(w, loc).After(started) {
			continue
		}
		if _, ok := got[w.Key()]; !ok {
			lines = append(lines, "missing: "+describePeriod(w))
		}
	}
	for key, g := range got {
		w, ok := index[key]
		switch {
		case !ok:
			lines = append(lines, "not in the computation: "+describePeriod(g))
		case !w.Complete:
			lines = append(lines, "complete, but the period has not ended: "+describePeriod(g))
		default:
			if diff := periodDiff(w, g); diff != "" {
				lines = append(lines, key+": "+diff)
			}
		}
	}
	slices.Sort(lines)
	if len(lines) > 30 {
		lines = append(lines[:30], fmt.Sprintf("... and %d more", len(lines)-30))
	}
	return strings.Join(lines, "\n")
}

// periodDiff lists the fields in which got differs from want.
func periodDiff(want, got replay.PeriodExpected) string {
	var diffs []string
	field := func(name string, w, g any) {
		diffs = append(diffs, fmt.Sprintf("%s want %v got %v", name, w, g))
	}
	if !want.Start.Equal(got.Start) {
		field("start", want.Start, got.Start)
	}
	if want.PeakUsers != got.PeakUsers {
		field("peak_users", want.PeakUsers, got.PeakUsers)
	}
	if want.PeakSessions != got.PeakSessions {
		field("peak_sessions", want.PeakSessions, got.PeakSessions)
	}
	if !want.PeakAt.Equal(got.PeakAt) {
		field("peak_at", want.PeakAt.UTC().Format(time.RFC3339Nano), got.PeakAt.UTC().Format(time.RFC3339Nano))
	}
	if want.DistinctUsers != got.DistinctUsers {
		field("distinct_users", want.DistinctUsers, got.DistinctUsers)
	}
	if want.SessionsStarted != got.SessionsStarted {
		field("sessions_started", want.SessionsStarted, got.SessionsStarted)
	}
	return strings.Join(diffs, "; ")
}

func describePeriod(p replay.PeriodExpected) string {
	return fmt.Sprintf("%s (peak_users %d, peak_sessions %d, peak_at %s, distinct_users %d, sessions_started %d, complete %v)",
		p.Key(), p.PeakUsers, p.PeakSessions, p.PeakAt.UTC().Format(time.RFC3339), p.DistinctUsers, p.SessionsStarted, p.Complete)
}

// periodEnd is when a period ends in loc.
func periodEnd(p replay.PeriodExpected, loc *time.Location) time.Time {
	if p.Period == replay.PeriodHour {
		return p.Start.Add(time.Hour)
	}
	y, m, d := p.Start.In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// countPeriods counts points by kind and scope ("hour site", "day app").
func countPeriods(points map[string]replay.PeriodExpected) map[string]int {
	out := make(map[string]int)
	for _, p := range points {
		scope := "site"
		switch {
		case p.App != "":
			scope = "app"
		case p.Server != "":
			scope = "server"
		}
		out[p.Period+" "+scope]++
	}
	return out
}

// requireOpenPeriods waits until the open periods' points written since
// index from (the last of each) are the computation's for now, and
// returns them.
func requireOpenPeriods(t *testing.T, tg *stdoutTelegraf, from int, audit string, loc *time.Location, when string) map[string]replay.PeriodExpected {
	t.Helper()
	var open map[string]replay.PeriodExpected
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var want []replay.PeriodExpected
		for _, p := range expectPeriods(c, audit, loc, time.Now()) {
			if !p.Complete {
				want = append(want, p)
			}
		}
		got := periodPoints(c, tg.out.snapshot()[from:], false)
		open = make(map[string]replay.PeriodExpected, len(want))
		var lines []string
		for _, w := range want {
			g, ok := got[w.Key()]
			switch {
			case !ok:
				lines = append(lines, "missing: "+describePeriod(w))
			case periodDiff(w, g) != "":
				lines = append(lines, w.Key()+": "+periodDiff(w, g))
			default:
				open[w.Key()] = g
			}
		}
		assert.NotEmpty(c, want, "the computation has no open period")
		assert.Empty(c, strings.Join(lines, "\n"), "%s, the open qliksense_users_period points differ from the replay's computation", when)
	}, 30*time.Second, 200*time.Millisecond)
	t.Logf("%s: %d open points equal to the computation (%v)", when, len(open), countPeriods(open))
	return open
}

// waitForSavedPositions waits until the state file holds every log file
// read to its end, and a periods section.
func waitForSavedPositions(t *testing.T, stateFile, audit string) {
	t.Helper()
	entries, err := os.ReadDir(audit)
	require.NoError(t, err)
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		total += info.Size()
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		data, err := os.ReadFile(stateFile)
		if !assert.NoError(c, err) {
			return
		}
		var f struct {
			LogFiles []struct{ Offset int64 } `json:"log_files"`
			Periods  json.RawMessage          `json:"periods"`
		}
		if !assert.NoError(c, json.Unmarshal(data, &f)) {
			return
		}
		var saved int64
		for _, p := range f.LogFiles {
			saved += p.Offset
		}
		assert.Equal(c, total, saved, "the state file's log file positions: the bytes of all files, each read to its end")
		assert.NotEmpty(c, f.Periods, "the state file has no periods section")
	}, 30*time.Second, 100*time.Millisecond)
}

// childProcess is the pid of parent's child whose command name starts
// with comm (Linux: /proc/<pid>/task/*/children).
func childProcess(t *testing.T, parent int, comm string) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	require.NoError(t, err)
	for _, path := range tasks {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(field)
			require.NoError(t, err)
			name, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if err == nil && strings.HasPrefix(strings.TrimSpace(string(name)), comm) {
				return pid
			}
		}
	}
	t.Fatalf("no child process %s* of Telegraf (pid %d)", comm, parent)
	return 0
}

// secondRunStart waits for the plugin that execd started again after the
// kill and returns the index of its first metric on stdout: its first
// qliksense_sessions_internal shows no log row read (the state file had
// them all), where the killed one had read them all.
func secondRunStart(t *testing.T, tg *stdoutTelegraf, from int) int {
	t.Helper()
	index := -1
	require.Eventually(t, func() bool {
		index = slices.IndexFunc(tg.out.snapshot()[from:], func(m telegraf.Metric) bool {
			rows, _ := m.GetField("log_rows")
			return m.Name() == "qliksense_sessions_internal" && rows == int64(0)
		})
		return index >= 0
	}, 60*time.Second, 100*time.Millisecond, "no sign of the restarted plugin (a qliksense_sessions_internal with log_rows 0) within 60 s of the SIGKILL")
	return from + index
}
