package qliksense_sessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// writeLogs writes about n more simulated events through w (the clock's
// event *next on), and returns the simulation's expected active set.
func writeLogs(t *testing.T, sim *replay.Simulation, w *replay.LogWriter, clock replay.SimClock, next *int, n int) replay.Expected {
	t.Helper()
	// Events decided together go out together: the expectation has them.
	for end := *next + n; *next < end || !sim.Settled(); *next++ {
		ev, ok := sim.Next()
		require.True(t, ok)
		require.NoError(t, w.Write(&ev, clock.At(*next)))
	}
	require.NoError(t, w.Flush())
	return sim.Expected()
}

func logPlugin(t *testing.T, dir, stateFile string) *QlikSenseSessions {
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.StateFile = stateFile
	plugin.LogFiles = &LogFiles{
		Files:         []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")},
		ArchiveMaxAge: config.Duration(24 * time.Hour),
		PollInterval:  config.Duration(10 * time.Millisecond),
	}
	return plugin
}

// requireSet waits until the plugin's summaries show the expected set.
func requireSet(t *testing.T, plugin *QlikSenseSessions, want replay.Expected) {
	t.Helper()
	want = foldNames(want)
	var got replay.Expected
	assert.Eventually(t, func() bool {
		var acc testutil.Accumulator
		require.NoError(t, plugin.Gather(&acc))
		got = replay.Expected{EventsSent: want.EventsSent, Servers: make([]replay.ServerExpected, 0), Apps: make([]replay.AppExpected, 0)}
		for _, m := range acc.GetTelegrafMetrics() {
			var users []string
			if list, ok := m.GetField("users"); ok {
				require.NoError(t, json.Unmarshal([]byte(list.(string)), &users))
			}
			fields := m.Fields()
			switch m.Name() {
			case "qliksense_users":
				got.ActiveUsers, got.ActiveSessions = int(fields["active_users"].(int64)), int(fields["active_sessions"].(int64))
				got.Users = users
			case "qliksense_users_server":
				if n := int(fields["active_sessions"].(int64)); n > 0 {
					server, _ := m.GetTag("server")
					got.Servers = append(got.Servers,
						replay.ServerExpected{Server: server, ActiveUsers: int(fields["active_users"].(int64)), ActiveSessions: n, Users: users})
				}
			case "qliksense_users_app":
				if n := int(fields["active_users"].(int64)); n > 0 {
					app, _ := m.GetTag("app_id")
					got.Apps = append(got.Apps,
						replay.AppExpected{App: app, ActiveUsers: n, ActiveConnections: int(fields["active_connections"].(int64)), Users: users})
				}
			}
		}
		if got.Users == nil {
			got.Users = make([]string, 0)
		}
		got = foldNames(got)
		return assertEqualSets(got, want)
	}, 10*time.Second, 20*time.Millisecond, "the plugin never showed the expected set")
	require.Equal(t, want, got)
}

// assertEqualSets tells whether a and b are the same in JSON.
func assertEqualSets(a, b replay.Expected) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

// foldNames writes every user name in lower case. A user's spelling is the
// first the plugin read; several servers' files are read side by side, not
// in the order of their timestamps, so it may be another server's spelling
// than the one the simulation saw first. Who is active is exact.
func foldNames(e replay.Expected) replay.Expected {
	fold := func(names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = strings.ToLower(n)
		}
		return out
	}
	e.Users = fold(e.Users)
	servers := slices.Clone(e.Servers)
	for i := range servers {
		servers[i].Users = fold(servers[i].Users)
	}
	e.Servers = servers
	apps := slices.Clone(e.Apps)
	for i := range apps {
		apps[i].Users = fold(apps[i].Users)
	}
	e.Apps = apps
	return e
}

// The plugin rebuilds the open sessions from the files at start, follows
// them through rotations, and a restart resumes from the state file's
// positions, neither losing nor repeating a row; without the state file, the
// files alone give the same set.
func TestLogFilesRebuildFollowAndResume(t *testing.T) {
	dir := t.TempDir()
	stateFile := filepath.Join(t.TempDir(), "state.json")
	sim, err := replay.NewSimulation(replay.SimConfig{Users: 60, Directories: 2, Servers: 2, Events: 100000, Seed: 4, Format: "sos", Preexisting: 0})
	require.NoError(t, err)
	clock := replay.SimClock{Start: time.Date(2026, 2, 25, 8, 0, 0, 0, time.FixedZone("", 3600)), Rate: 10}
	w, err := replay.NewLogWriter(replay.LogConfig{Dir: dir, RotateBytes: 64 << 10, FlushEachRow: true, Seed: 4})
	require.NoError(t, err)
	defer w.Close()
	next := 0

	// Before the plugin starts: history to rebuild, over rotated files.
	want := writeLogs(t, sim, w, clock, &next, 2000)
	require.Greater(t, w.Stats().Rotations, 2)
	plugin := logPlugin(t, dir, stateFile)
	var acc testutil.Accumulator
	require.NoError(t, plugin.Init())
	require.NoError(t, plugin.Start(&acc))
	requireSet(t, plugin, want)

	// While it follows: more rows, more rotations. A file is read as long
	// as it lives under the live name for a poll (Qlik rotates at 8 MB, 12 h
	// or a restart); here rows come in chunks smaller than a file.
	follow := func(p *QlikSenseSessions, n int) replay.Expected {
		read := p.logs.Source().Stats().Rows
		var want replay.Expected
		for range n / 100 {
			before := w.Stats().Events + w.Stats().IgnoredRows
			want = writeLogs(t, sim, w, clock, &next, 100)
			written := uint64(w.Stats().Events + w.Stats().IgnoredRows - before)
			require.Eventually(t, func() bool { return p.logs.Source().Stats().Rows >= read+written }, 5*time.Second, time.Millisecond)
			read += written
		}
		return want
	}
	want = follow(plugin, 2000)
	requireSet(t, plugin, want)
	plugin.Stop()

	// While it is stopped: rows it must not miss, and a rotation (a
	// service restart).
	want = writeLogs(t, sim, w, clock, &next, 1000)
	require.NoError(t, w.RotateAll(clock.At(next)))
	restarted := logPlugin(t, dir, stateFile)
	require.NoError(t, restarted.Init())
	require.NoError(t, restarted.Start(&acc))
	requireSet(t, restarted, want)
	want = follow(restarted, 1000)
	requireSet(t, restarted, want)
	restarted.Stop()

	// No state file: the files alone give the same set.
	fresh := logPlugin(t, dir, "")
	require.NoError(t, fresh.Init())
	require.NoError(t, fresh.Start(&acc))
	defer fresh.Stop()
	requireSet(t, fresh, want)
}

// UDP events of a server whose log files are read are dropped: the files
// are its truth, and no session counts twice.
func TestLogFilesSupersedeUDP(t *testing.T) {
	dir := t.TempDir()
	sim, err := replay.NewSimulation(replay.SimConfig{Users: 10, Directories: 1, Servers: 1, Events: 1000, Seed: 9, Format: "sos"})
	require.NoError(t, err)
	clock := replay.SimClock{Start: time.Date(2026, 2, 25, 8, 0, 0, 0, time.UTC), Rate: 10}
	w, err := replay.NewLogWriter(replay.LogConfig{Dir: dir, FlushEachRow: true})
	require.NoError(t, err)
	defer w.Close()
	next := 0
	want := writeLogs(t, sim, w, clock, &next, 200)

	plugin := logPlugin(t, dir, "")
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	requireSet(t, plugin, want)
	// The same server over UDP, in another case, and another server.
	send(t, conn,
		`/qseow-proxy-session/;sense1;Start session;LAB;ghost;AppAccess;/hub/;m`,
		`/qseow-proxy-session/;SENSE9;Start session;LAB;udpuser;AppAccess;/hub/;m`)
	waitForDatagrams(t, plugin, 2)
	require.Equal(t, uint64(1), plugin.pipeline.Counters().UDPSuperseded)
	require.Equal(t, want.ActiveSessions+1, plugin.pipeline.ActiveSessions(), "SENSE9's session counts, SENSE1's UDP one does not")
}

// A session's duration from the files is the difference of its rows'
// timestamps.
func TestLogFilesDurations(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 2, 25, 8, 0, 0, 0, time.FixedZone("", 3600))
	w, err := replay.NewLogWriter(replay.LogConfig{Dir: dir, FlushEachRow: true})
	require.NoError(t, err)
	defer w.Close()
	start := replay.Event{Server: "SENSE1", Command: "Start session", Directory: "LAB", UserID: "anna", Context: "/hub/", SessionID: "s1",
		Message: `Start session for user 'LAB\anna'`}
	require.NoError(t, w.Write(&start, at))
	require.NoError(t, w.Flush())

	plugin := logPlugin(t, dir, "")
	plugin.EmitEvents = true
	var acc testutil.Accumulator
	require.NoError(t, plugin.Init())
	require.NoError(t, plugin.Start(&acc))
	defer plugin.Stop()
	<-plugin.logs.Source().Rebuilt()

	stop := start
	stop.Command, stop.Message = "Stop session", `Stop session for user 'LAB\anna'`
	require.NoError(t, w.Write(&stop, at.Add(37*time.Minute+250*time.Millisecond)))
	require.NoError(t, w.Flush())
	assert.Eventually(t, func() bool { return lastMetric(&acc, "qliksense_session_event") != nil }, 5*time.Second, 10*time.Millisecond)
	m := lastMetric(&acc, "qliksense_session_event")
	require.Equal(t, "session_stop", m.Tags["event"])
	require.Equal(t, (37*time.Minute + 250*time.Millisecond).Seconds(), m.Fields["session_duration_s"]) //nolint:testifylint // exact: the rows' time stamps
	require.Equal(t, at.Add(37*time.Minute+250*time.Millisecond).UnixNano(), m.Time.UnixNano(), "the event carries the row's time")
}

// A save takes the log files' positions after exactly the rows its records
// reflect, while rows keep coming: each row starts a session of a new user,
// so the sessions counted and the rows before the saved offset must agree.
func TestLogFileCheckpointsMatchTheRecords(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("sources", "logfile", "testdata", "SENSE1_AuditActivity_Proxy.txt"))
	require.NoError(t, err)
	lines := strings.SplitAfter(string(sample), "\n")
	header, start := lines[0], lines[1]
	require.Contains(t, start, "\tanna\t")
	require.Contains(t, start, "\tStart session\t")
	row := func(i int) string { return strings.Replace(start, "\tanna\t", fmt.Sprintf("\tu%06d\t", i), 1) }
	rowLen := int64(len(row(0)))

	dir := t.TempDir()
	path := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(header)
	require.NoError(t, err)

	plugin := logPlugin(t, dir, "")
	var acc testutil.Accumulator
	require.NoError(t, plugin.Init())
	require.NoError(t, plugin.Start(&acc))
	defer plugin.Stop()

	const rows = 50_000
	stop := make(chan struct{})
	writing := make(chan error, 1)
	go func() {
		for i := range rows {
			select {
			case <-stop:
				writing <- nil
				return
			default:
			}
			if _, err := f.WriteString(row(i)); err != nil {
				writing <- err
				return
			}
		}
		writing <- nil
	}()
	defer func() {
		close(stop)
		require.NoError(t, <-writing)
	}()
	require.Eventually(t, func() bool { return plugin.pipeline.ActiveSessions() > 0 }, 10*time.Second, time.Millisecond)

	checked := 0
	for range 2000 {
		var sessions int
		positions := plugin.logs.Checkpoint(func() { sessions = plugin.pipeline.ActiveSessions() })
		require.Len(t, positions, 1)
		read := positions[0].Offset - int64(len(header))
		require.Zero(t, read%rowLen, "an offset within a row: %d", positions[0].Offset)
		require.Equal(t, int(read/rowLen), sessions, "the positions saved are not after the rows the records reflect")
		if sessions > 0 && sessions < rows {
			checked++
		}
	}
	require.NotZero(t, checked, "no checkpoint while rows were coming")
}
