package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// written is an event as the writer got it.
type written struct {
	ev Event
	at time.Time
}

// logRun is what writeLogs wrote.
type logRun struct {
	dir       string
	perServer map[string][]written // the events per server, in the order written
	expected  Expected             // the simulation's model
	stats     LogStats
}

// writeLogs runs a simulation into log files in a new folder.
func writeLogs(t *testing.T, cfg SimConfig, logCfg LogConfig, clock SimClock) logRun {
	t.Helper()
	sim, err := NewSimulation(cfg)
	require.NoError(t, err)
	if logCfg.Dir == "" {
		logCfg.Dir = t.TempDir()
	}
	w, err := NewLogWriter(logCfg)
	require.NoError(t, err)
	perServer := make(map[string][]written)
	i := 0
	for ev, ok := sim.Next(); ok; ev, ok = sim.Next() {
		at := clock.At(i)
		require.NoError(t, w.Write(&ev, at))
		perServer[ev.Server] = append(perServer[ev.Server], written{ev, at})
		i++
	}
	require.NoError(t, w.Close())
	return logRun{dir: logCfg.Dir, perServer: perServer, expected: sim.Expected(), stats: w.Stats()}
}

var testStart = time.Date(2026, 2, 25, 8, 15, 12, 123_000_000, time.FixedZone("CET", 3600))

// The replay's reader reads the files back into the simulation's events:
// per server, in order, with their times and session ids, across
// rotations, and ignores exactly the noise rows. (The plugin's parser reads
// them alike: state/replay_crosscheck_test.go.)
func TestLogFilesReadBackThroughTheParser(t *testing.T) {
	clock := SimClock{Start: testStart, Rate: 100}
	cfg := SimConfig{Users: 150, Directories: 3, Servers: 3, Events: 20000, Seed: 11, Format: "sos",
		Preexisting: 30, WindowEvents: WindowEvents(clock.Rate), Exclude: []string{`INTERNAL\sa_scheduler`}}
	const limit = 64 << 10
	run := writeLogs(t, cfg, LogConfig{RotateBytes: limit, Noise: 0.1, Seed: 3}, clock)
	dir, perServer, stats := run.dir, run.perServer, run.stats
	require.Equal(t, cfg.Events, stats.Events)
	require.Greater(t, stats.IgnoredRows, cfg.Events/20)
	require.Greater(t, stats.Rotations, 20)
	require.Equal(t, stats.Rotations+len(perServer), stats.Files)

	logs, err := ReadLogDir(dir)
	require.NoError(t, err)
	require.Len(t, logs, len(perServer))
	ignored := 0
	var size int64
	for _, hl := range logs {
		want := perServer[hl.Host]
		require.NotEmpty(t, want, hl.Host)
		require.Zero(t, hl.Malformed, hl.Host)
		ignored += hl.Ignored
		require.Len(t, hl.Events, len(want), hl.Host)
		for i, got := range hl.Events {
			w := want[i]
			require.Equal(t, w.ev.Server, got.Server)
			require.Equal(t, w.ev.Command, got.Command, "%s row %d", hl.Host, i)
			require.Equal(t, w.ev.Directory, got.Directory)
			require.Equal(t, w.ev.UserID, got.UserID)
			require.Equal(t, w.ev.SessionID, got.SessionID)
			require.NotEmpty(t, got.SessionID)
			require.Equal(t, w.ev.Context, got.Context)
			require.Equal(t, w.ev.Message, got.Message)
			require.Equal(t, "AppAccess", got.Origin)
			require.True(t, w.at.Truncate(time.Millisecond).Equal(got.Time), "%s row %d: %s, want %s", hl.Host, i, got.Time, w.at)
			_, offset := got.Time.Zone()
			require.Equal(t, 3600, offset)
		}

		// Rotated files first, by name, then the live one; each within the
		// limit, opened by a byte order mark and the header, rows in CR LF.
		require.Greater(t, len(hl.Files), 2)
		rotatedName := regexp.MustCompile(`^` + hl.Host + `_AuditActivity_Proxy_\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\dZ\.log$`)
		for i, name := range hl.Files {
			if i == len(hl.Files)-1 {
				require.Equal(t, LogFileName(hl.Host), name)
			} else {
				require.Regexp(t, rotatedName, name)
			}
			data, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			size += int64(len(data))
			require.LessOrEqual(t, len(data), limit, name)
			require.True(t, bytes.HasPrefix(data, []byte("\ufeff"+strings.Join(LogColumns, "\t")+"\r\n")), name)
			require.True(t, bytes.HasSuffix(data, []byte("\r\n")), name)
			require.Equal(t, bytes.Count(data, []byte("\n")), bytes.Count(data, []byte("\r\n")), name)
			require.Equal(t, 1, bytes.Count(data, []byte("Sequence#")), "one header in %s", name)
			has, err := HasBOM(filepath.Join(dir, name))
			require.NoError(t, err)
			require.True(t, has)
		}
	}
	require.Equal(t, stats.IgnoredRows, ignored)
	require.Equal(t, stats.Bytes, size)

	// The simulation's model and the replay's Model of the files agree on
	// who is active.
	fromModel, err := ExpectFromLogDir(dir, cfg.Exclude...)
	require.NoError(t, err)
	requireSameActiveSet(t, run.expected, fromModel)
}

// requireSameActiveSet compares the users and sessions, site and per server.
func requireSameActiveSet(t *testing.T, want, got Expected) {
	t.Helper()
	require.NotZero(t, want.ActiveUsers)
	require.Equal(t, want.ActiveUsers, got.ActiveUsers)
	require.Equal(t, want.ActiveSessions, got.ActiveSessions)
	require.Equal(t, want.Users, got.Users)
	require.Equal(t, want.Servers, got.Servers)
	require.Equal(t, want.Apps, got.Apps)
}

// The rotated file's name holds the UTC time it was closed.
func TestRotatedLogFileName(t *testing.T) {
	require.Equal(t, "SENSE1_AuditActivity_Proxy.txt", LogFileName("SENSE1"))
	require.Equal(t, "SENSE1_AuditActivity_Proxy_2026-02-25T07.15.12Z.log", RotatedLogFileName("SENSE1", testStart))
	require.Equal(t, "20260225T081512.123+0100", testStart.Format(TimestampLayout))
	require.Equal(t, testStart.Add(1500*time.Millisecond), SimClock{Start: testStart, Rate: 2}.At(3))
	require.Equal(t, testStart, SimClock{Start: testStart}.At(3))
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// On request the live file is renamed and a new one starts with only its
// header; two rotations within a second get names a second apart; a live
// file left by an earlier run is rotated at the next start, as a service
// restart does.
func TestRotateOnRequestAndAtRestart(t *testing.T) {
	dir := t.TempDir()
	w, err := NewLogWriter(LogConfig{Dir: dir, FlushEachRow: true})
	require.NoError(t, err)
	ev := Event{Server: "SENSE1", Command: "Start session", Directory: "LAB", UserID: "anna", Context: "/hub/",
		Message: "Start session for user 'LAB\\anna'", SessionID: "s1"}
	require.NoError(t, w.Write(&ev, testStart))
	// Flushed per row: a tailer sees the row already.
	data, err := os.ReadFile(filepath.Join(dir, LogFileName("SENSE1")))
	require.NoError(t, err)
	require.Contains(t, string(data), "\t20260225T081512.123+0100\tSENSE1\t")
	require.Contains(t, string(data), "\tCommand=Start session;Result=0;ResultText=Success\ts1\t")

	require.NoError(t, w.Rotate("SENSE1", testStart.Add(100*time.Millisecond)))
	require.NoError(t, w.Rotate("SENSE9", testStart)) // never written: nothing to do
	require.NoError(t, w.Rotate("SENSE1", testStart.Add(200*time.Millisecond)))
	require.Equal(t, []string{
		"SENSE1_AuditActivity_Proxy.txt",
		"SENSE1_AuditActivity_Proxy_2026-02-25T07.15.12Z.log",
		"SENSE1_AuditActivity_Proxy_2026-02-25T07.15.13Z.log",
	}, readDir(t, dir))
	data, err = os.ReadFile(filepath.Join(dir, LogFileName("SENSE1")))
	require.NoError(t, err)
	require.Equal(t, "\ufeff"+strings.Join(LogColumns, "\t")+"\r\n", string(data))
	ev.Command, ev.Message = "Stop session", "Stop session for user 'LAB\\anna'"
	require.NoError(t, w.Write(&ev, testStart.Add(time.Minute)))
	require.NoError(t, w.Close())
	require.Equal(t, 3, w.Stats().Files)
	require.Equal(t, 2, w.Stats().Rotations)

	// A restart: the live file of the run before is rotated first.
	w, err = NewLogWriter(LogConfig{Dir: dir})
	require.NoError(t, err)
	ev.Command, ev.SessionID = "Start session", "s2"
	require.NoError(t, w.Write(&ev, testStart.Add(2*time.Minute)))
	require.NoError(t, w.Close())
	require.Equal(t, []string{
		"SENSE1_AuditActivity_Proxy.txt",
		"SENSE1_AuditActivity_Proxy_2026-02-25T07.15.12Z.log",
		"SENSE1_AuditActivity_Proxy_2026-02-25T07.15.13Z.log",
		"SENSE1_AuditActivity_Proxy_2026-02-25T07.17.12Z.log",
	}, readDir(t, dir))

	logs, err := ReadLogDir(dir)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	got := make([]string, 0, len(logs[0].Events))
	for _, e := range logs[0].Events {
		got = append(got, e.Command+" "+e.SessionID+" "+e.Time.Format(TimestampLayout))
	}
	require.Equal(t, []string{
		"Start session s1 20260225T081512.123+0100",
		"Stop session s1 20260225T081612.123+0100",
		"Start session s2 20260225T081712.123+0100",
	}, got)
}

// Files rotate once their first row is RotateAge old on the simulated clock.
func TestRotateAge(t *testing.T) {
	clock := SimClock{Start: testStart, Rate: 1} // an event a second
	run := writeLogs(t, SimConfig{Users: 20, Directories: 1, Servers: 1, Events: 100, Seed: 1, Format: "sos"},
		LogConfig{RotateAge: 30 * time.Second, RotateBytes: -1}, clock)
	require.Equal(t, 3, run.stats.Rotations) // rows at 0-29 s, 30-59 s, 60-89 s, 90-99 s
	require.Len(t, readDir(t, run.dir), 4)
}

// Noise rows are all ignored by the reader, for each reason it has.
func TestNoiseRowsAreIgnored(t *testing.T) {
	run := writeLogs(t, SimConfig{Users: 20, Directories: 2, Servers: 2, Events: 2000, Seed: 5, Format: "sos"},
		LogConfig{Noise: 1, Seed: 9}, SimClock{Start: testStart, Rate: 1000})
	require.Equal(t, 2000, run.stats.IgnoredRows)
	logs, err := ReadLogDir(run.dir)
	require.NoError(t, err)
	total := 0
	for _, hl := range logs {
		total += hl.Ignored
		require.Zero(t, hl.Malformed)
	}
	require.Equal(t, 2000, total)
	data, err := os.ReadFile(filepath.Join(run.dir, LogFileName("SENSE1")))
	require.NoError(t, err)
	for _, want := range []string{";Result=403;ResultText=Error: Access denied\t", "\tINTERNAL\tsa_api\t", "Command=Login;Result=0"} {
		require.Contains(t, string(data), want)
	}
}

func TestLogWriterRefusesBadInput(t *testing.T) {
	_, err := NewLogWriter(LogConfig{Dir: filepath.Join(t.TempDir(), "missing")})
	require.ErrorContains(t, err, "log folder")
	_, err = NewLogWriter(LogConfig{Dir: t.TempDir(), Noise: 2})
	require.ErrorContains(t, err, "noise")
	w, err := NewLogWriter(LogConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	require.ErrorContains(t, w.Write(&Event{Server: `..\x`, Command: "Start session"}, testStart), "cannot name a log file")
	// Tabs and line ends in a field would break the row: they become spaces.
	ev := Event{Server: "SENSE1", Command: "Open connection", Directory: "LAB", UserID: "anna", Context: "/hub/", Message: "a\tb\r\nc", SessionID: "s"}
	require.NoError(t, w.Write(&ev, testStart))
	require.NoError(t, w.Close())
	logs, err := ReadLogDir(w.cfg.Dir)
	require.NoError(t, err)
	require.Equal(t, "a b  c", logs[0].Events[0].Message)
	require.Equal(t, OpenConnection, logs[0].Events[0].Command)
}

func BenchmarkLogWriter(b *testing.B) {
	sim, err := NewSimulation(SimConfig{Users: 1000, Directories: 2, Servers: 3, Events: b.N, Seed: 1, Format: "sos"})
	require.NoError(b, err)
	w, err := NewLogWriter(LogConfig{Dir: b.TempDir(), Noise: 0.05})
	require.NoError(b, err)
	clock := SimClock{Start: testStart, Rate: 100}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev, _ := sim.Next()
		if err := w.Write(&ev, clock.At(i)); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, w.Close())
}
